/*
 * split.h - the one constant the split's forms share: the steps a rollout
 * may have, in the configuration (config.h), the rollout engine
 * (rollout.h), the split (state.h) and its record on disk and in etcd
 * (persist.h).  Types only, no module behind it.
 */
#ifndef BGPROXY_SPLIT_H
#define BGPROXY_SPLIT_H

#define SPLIT_MAX_STEPS 32        /* steps of a rollout, at most */

#endif
