/*
 * webview.h - the web view's page (src/web/index.html), embedded at build
 * time by scripts/embed.py.  Served as GET / on metrics.address.
 */
#ifndef BGPROXY_WEBVIEW_H
#define BGPROXY_WEBVIEW_H

#include <stddef.h>

extern const char webview_html[];
extern const size_t webview_html_len;

#endif
