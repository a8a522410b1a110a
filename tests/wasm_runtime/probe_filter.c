/* probe_filter.c: a proxy-wasm test filter for the harness's own tests.
 *
 * Its behaviour for a request is chosen by request headers (read in
 * proxy_on_request_headers and kept in globals: the tests run one stream at a time):
 *   x-rh-ret N          value returned by proxy_on_request_headers
 *   x-rb-ret N          value returned by proxy_on_request_body when !end_of_stream
 *   x-rb-eos-ret N      ... when end_of_stream
 *   x-rb-op OP          body edit at end_of_stream: upper|prepend|append|mid|route|replace|drain
 *   x-resp-ret N        value returned by proxy_on_response_headers
 *   x-respb-ret N, x-respb-eos-ret N, x-respb-op upper
 *   x-local STATUS      send a local reply at x-local-at (rh|rb|resph|respb)
 *   x-trap-at WHERE     `unreachable` in rh|rb|resph|respb|log
 *   x-add V             add request header x-added: V
 *   x-rm-cl 1           remove content-length in request headers
 *   x-prop a.b.c        log proxy_get_property(a\0b\0c) as hex
 *   x-set-prop V        proxy_set_property("aipol_backend", V) in request headers
 *   x-clear 1           call foreign clear_route_cache after setting the route in rb
 *   x-callout 1         proxy_http_call in rh and return 1; the answer continues or denies
 *   x-shared-set k=v@cas, x-shared-get k, x-enqueue V, x-foreign NAME
 *   x-continue-in-rh 1  call proxy_continue_stream(0) inside rh
 * Everything else is logged so the tests can assert on result codes.
 */
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

#define IMPORT(n) __attribute__((import_module("env"), import_name(n)))
#define EXPORT(n) __attribute__((export_name(n)))

IMPORT("proxy_log") u32 proxy_log(u32, const char *, u32);
IMPORT("proxy_get_header_map_value") u32 proxy_get_header_map_value(u32, const char *, u32, char **, u32 *);
IMPORT("proxy_get_header_map_pairs") u32 proxy_get_header_map_pairs(u32, char **, u32 *);
IMPORT("proxy_add_header_map_value") u32 proxy_add_header_map_value(u32, const char *, u32, const char *, u32);
IMPORT("proxy_replace_header_map_value") u32 proxy_replace_header_map_value(u32, const char *, u32, const char *, u32);
IMPORT("proxy_remove_header_map_value") u32 proxy_remove_header_map_value(u32, const char *, u32);
IMPORT("proxy_get_buffer_bytes") u32 proxy_get_buffer_bytes(u32, u32, u32, char **, u32 *);
IMPORT("proxy_set_buffer_bytes") u32 proxy_set_buffer_bytes(u32, u32, u32, const char *, u32);
IMPORT("proxy_send_local_response") u32 proxy_send_local_response(u32, const char *, u32, const char *, u32, const char *, u32, int);
IMPORT("proxy_get_property") u32 proxy_get_property(const char *, u32, char **, u32 *);
IMPORT("proxy_set_property") u32 proxy_set_property(const char *, u32, const char *, u32);
IMPORT("proxy_call_foreign_function") u32 proxy_call_foreign_function(const char *, u32, const char *, u32, char **, u32 *);
IMPORT("proxy_continue_stream") u32 proxy_continue_stream(u32);
IMPORT("proxy_http_call") u32 proxy_http_call(const char *, u32, const char *, u32, const char *, u32, const char *, u32, u32, u32 *);
IMPORT("proxy_set_effective_context") u32 proxy_set_effective_context(u32);
IMPORT("proxy_define_metric") u32 proxy_define_metric(u32, const char *, u32, u32 *);
IMPORT("proxy_increment_metric") u32 proxy_increment_metric(u32, i64);
IMPORT("proxy_record_metric") u32 proxy_record_metric(u32, u64);
IMPORT("proxy_get_metric") u32 proxy_get_metric(u32, u64 *);
IMPORT("proxy_get_shared_data") u32 proxy_get_shared_data(const char *, u32, char **, u32 *, u32 *);
IMPORT("proxy_set_shared_data") u32 proxy_set_shared_data(const char *, u32, const char *, u32, u32);
IMPORT("proxy_register_shared_queue") u32 proxy_register_shared_queue(const char *, u32, u32 *);
IMPORT("proxy_enqueue_shared_queue") u32 proxy_enqueue_shared_queue(u32, const char *, u32);
IMPORT("proxy_dequeue_shared_queue") u32 proxy_dequeue_shared_queue(u32, char **, u32 *);
IMPORT("proxy_set_tick_period_milliseconds") u32 proxy_set_tick_period_milliseconds(u32);
IMPORT("proxy_get_current_time_nanoseconds") u32 proxy_get_current_time_nanoseconds(u64 *);
IMPORT("proxy_get_log_level") u32 proxy_get_log_level(u32 *);
IMPORT("proxy_get_status") u32 proxy_get_status(u32 *, char **, u32 *);

/* ---- memory ---- */
extern unsigned char __heap_base;
static unsigned long heap_top = 0;

void *memcpy(void *d, const void *s, unsigned long n) {
  char *dd = d; const char *ss = s;
  while (n--) *dd++ = *ss++;
  return d;
}
void *memset(void *d, int c, unsigned long n) {
  char *dd = d;
  while (n--) *dd++ = (char)c;
  return d;
}

EXPORT("malloc") void *malloc(unsigned long n) {
  if (!heap_top) heap_top = (unsigned long)&__heap_base;
  heap_top = (heap_top + 7) & ~7UL;
  unsigned long end = heap_top + n;
  unsigned long have = __builtin_wasm_memory_size(0) * 65536UL;
  if (end > have) {
    if (__builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == (unsigned long)-1) return 0;
  }
  void *p = (void *)heap_top;
  heap_top = end;
  return p;
}

/* ---- strings ---- */
static u32 slen(const char *s) { u32 n = 0; while (s[n]) n++; return n; }
static int seq(const char *a, u32 alen, const char *b) {
  u32 bl = slen(b);
  if (alen != bl) return 0;
  for (u32 i = 0; i < bl; i++) if (a[i] != b[i]) return 0;
  return 1;
}
static int atoi_n(const char *s, u32 n) {
  int v = 0, neg = 0; u32 i = 0;
  if (n && s[0] == '-') { neg = 1; i = 1; }
  for (; i < n; i++) { if (s[i] < '0' || s[i] > '9') break; v = v * 10 + (s[i] - '0'); }
  return neg ? -v : v;
}

static char logbuf[4096];
static u32 loglen;
static void lb_reset(void) { loglen = 0; }
static void lb_str(const char *s, u32 n) { for (u32 i = 0; i < n && loglen < sizeof logbuf; i++) logbuf[loglen++] = s[i]; }
static void lb_cstr(const char *s) { lb_str(s, slen(s)); }
static void lb_u(u64 v) {
  char t[24]; int i = 0;
  if (!v) t[i++] = '0';
  while (v) { t[i++] = '0' + (char)(v % 10); v /= 10; }
  while (i) { char c = t[--i]; lb_str(&c, 1); }
}
static void lb_hex(const char *s, u32 n) {
  static const char hx[] = "0123456789abcdef";
  for (u32 i = 0; i < n; i++) { char c[2] = {hx[(unsigned char)s[i] >> 4], hx[s[i] & 15]}; lb_str(c, 2); }
}
static void lb_flush(u32 level) { proxy_log(level, logbuf, loglen); loglen = 0; }
static void log_info(const char *s) { proxy_log(2, s, slen(s)); }

/* ---- per-request script (one stream at a time) ---- */
#define VAL 256
typedef struct { char v[VAL]; u32 n; int set; } opt;
static opt o_rh_ret, o_rb_ret, o_rb_eos_ret, o_rb_op, o_resp_ret, o_respb_ret, o_respb_eos_ret,
    o_respb_op, o_local, o_local_at, o_trap_at, o_add, o_rm_cl, o_prop, o_set_prop, o_clear,
    o_callout, o_shared_set, o_shared_get, o_enqueue, o_foreign, o_cont_rh;
static u32 stream_id;
static u32 m_requests, m_active, m_body, m_ticks;
static u32 queue_id;

static void read_opt(const char *name, opt *o) {
  char *p = 0; u32 n = 0;
  o->set = 0; o->n = 0;
  if (proxy_get_header_map_value(0, name, slen(name), &p, &n) == 0) {
    if (n > VAL) n = VAL;
    memcpy(o->v, p, n); o->n = n; o->set = 1;
  }
}
static int opt_is(opt *o, const char *s) { return o->set && seq(o->v, o->n, s); }
static int opt_int(opt *o, int dflt) { return o->set ? atoi_n(o->v, o->n) : dflt; }

static void local_reply(u32 status) {
  /* one header pair: x-lr: 1 */
  static const char pairs[] = {1,0,0,0, 4,0,0,0, 1,0,0,0, 'x','-','l','r',0,'1',0};
  proxy_send_local_response(status, "denied by probe", 15, "denied", 6, pairs, sizeof pairs, -1);
}
static void maybe_trap(const char *where) { if (opt_is(&o_trap_at, where)) __builtin_trap(); }
static int maybe_local(const char *where) {
  if (o_local.set && opt_is(&o_local_at, where)) { local_reply((u32)opt_int(&o_local, 403)); return 1; }
  return 0;
}

/* ---- lifecycle ---- */
EXPORT("proxy_abi_version_0_2_1") void abi(void) {}

EXPORT("proxy_on_context_create") void on_context_create(u32 id, u32 parent) {
  lb_cstr("create "); lb_u(id); lb_cstr(" "); lb_u(parent); lb_flush(1);
}

EXPORT("proxy_on_vm_start") u32 on_vm_start(u32 root, u32 size) {
  char *p = 0; u32 n = 0;
  u32 r = proxy_get_buffer_bytes(6, 0, size, &p, &n);
  lb_cstr("vm_start root="); lb_u(root); lb_cstr(" r="); lb_u(r); lb_cstr(" cfg="); lb_str(p, n); lb_flush(2);
  return !(n == 4 && seq(p, n, "fail"));
}

EXPORT("proxy_on_configure") u32 on_configure(u32 root, u32 size) {
  char *p = 0; u32 n = 0;
  u32 r = proxy_get_buffer_bytes(7, 0, size, &p, &n);
  lb_cstr("configure r="); lb_u(r); lb_cstr(" cfg="); lb_str(p, n); lb_flush(2);
  if (seq(p, n, "fail")) return 0;
  proxy_define_metric(0, "probe.requests", 14, &m_requests);
  proxy_define_metric(1, "probe.active", 12, &m_active);
  proxy_define_metric(2, "probe.body_size", 15, &m_body);
  proxy_define_metric(0, "probe.ticks", 11, &m_ticks);
  lb_cstr("metric ids "); lb_u(m_requests); lb_cstr(" "); lb_u(m_active); lb_cstr(" "); lb_u(m_body);
  lb_cstr(" "); lb_u(m_ticks); lb_flush(2);
  proxy_register_shared_queue("probe_q", 7, &queue_id);
  if (seq(p, n, "tick")) proxy_set_tick_period_milliseconds(1000);
  return 1;
}

EXPORT("proxy_on_tick") void on_tick(u32 root) {
  proxy_increment_metric(m_ticks, 1);
  log_info("tick");
}

EXPORT("proxy_on_queue_ready") void on_queue_ready(u32 root, u32 qid) {
  char *p = 0; u32 n = 0;
  u32 r = proxy_dequeue_shared_queue(qid, &p, &n);
  lb_cstr("queue_ready root="); lb_u(root); lb_cstr(" r="); lb_u(r); lb_cstr(" v="); lb_str(p, n);
  u32 r2 = proxy_dequeue_shared_queue(qid, &p, &n);
  lb_cstr(" again="); lb_u(r2); lb_flush(2);
}

/* ---- request ---- */
EXPORT("proxy_on_request_headers") u32 on_request_headers(u32 ctx, u32 n, u32 eos) {
  stream_id = ctx;
  read_opt("x-rh-ret", &o_rh_ret); read_opt("x-rb-ret", &o_rb_ret); read_opt("x-rb-eos-ret", &o_rb_eos_ret);
  read_opt("x-rb-op", &o_rb_op); read_opt("x-resp-ret", &o_resp_ret); read_opt("x-respb-ret", &o_respb_ret);
  read_opt("x-respb-eos-ret", &o_respb_eos_ret); read_opt("x-respb-op", &o_respb_op);
  read_opt("x-local", &o_local); read_opt("x-local-at", &o_local_at); read_opt("x-trap-at", &o_trap_at);
  read_opt("x-add", &o_add); read_opt("x-rm-cl", &o_rm_cl); read_opt("x-prop", &o_prop);
  read_opt("x-set-prop", &o_set_prop); read_opt("x-clear", &o_clear); read_opt("x-callout", &o_callout);
  read_opt("x-shared-set", &o_shared_set); read_opt("x-shared-get", &o_shared_get);
  read_opt("x-enqueue", &o_enqueue); read_opt("x-foreign", &o_foreign); read_opt("x-continue-in-rh", &o_cont_rh);

  lb_cstr("rh ctx="); lb_u(ctx); lb_cstr(" n="); lb_u(n); lb_cstr(" eos="); lb_u(eos); lb_flush(2);
  proxy_increment_metric(m_requests, 1);
  proxy_increment_metric(m_active, 1);
  maybe_trap("rh");

  char *p = 0; u32 pn = 0;
  lb_cstr("rh cfg7="); lb_u(proxy_get_buffer_bytes(7, 0, 10, &p, &pn)); lb_flush(2);
  if (o_add.set) proxy_add_header_map_value(0, "x-added", 7, o_add.v, o_add.n);
  if (opt_is(&o_rm_cl, "1")) proxy_remove_header_map_value(0, "content-length", 14);
  if (o_set_prop.set) {
    u32 r = proxy_set_property("aipol_backend", 13, o_set_prop.v, o_set_prop.n);
    lb_cstr("set_prop r="); lb_u(r); lb_flush(2);
  }
  if (o_prop.set) {
    char path[VAL]; u32 i;
    for (i = 0; i < o_prop.n; i++) path[i] = o_prop.v[i] == '.' ? 0 : o_prop.v[i];
    u32 r = proxy_get_property(path, o_prop.n, &p, &pn);
    lb_cstr("prop r="); lb_u(r); lb_cstr(" hex="); lb_hex(p, pn); lb_flush(2);
  }
  if (o_shared_set.set) {
    u32 eq = 0, at = o_shared_set.n;
    while (eq < o_shared_set.n && o_shared_set.v[eq] != '=') eq++;
    for (u32 i = eq; i < o_shared_set.n; i++) if (o_shared_set.v[i] == '@') { at = i; break; }
    u32 cas = at < o_shared_set.n ? (u32)atoi_n(o_shared_set.v + at + 1, o_shared_set.n - at - 1) : 0;
    u32 r = proxy_set_shared_data(o_shared_set.v, eq, o_shared_set.v + eq + 1, at - eq - 1, cas);
    lb_cstr("shared_set r="); lb_u(r); lb_flush(2);
  }
  if (o_shared_get.set) {
    u32 cas = 0;
    u32 r = proxy_get_shared_data(o_shared_get.v, o_shared_get.n, &p, &pn, &cas);
    lb_cstr("shared_get r="); lb_u(r); lb_cstr(" v="); lb_str(p, pn); lb_cstr(" cas="); lb_u(cas); lb_flush(2);
  }
  if (o_enqueue.set) {
    u32 r = proxy_enqueue_shared_queue(queue_id, o_enqueue.v, o_enqueue.n);
    lb_cstr("enqueue r="); lb_u(r); lb_flush(2);
  }
  if (o_foreign.set) {
    u32 r = proxy_call_foreign_function(o_foreign.v, o_foreign.n, "abc", 3, &p, &pn);
    lb_cstr("foreign r="); lb_u(r); lb_cstr(" out="); lb_str(p, pn); lb_flush(2);
  }
  if (opt_is(&o_callout, "1")) {
    static const char hdrs[] = {3,0,0,0, 7,0,0,0, 3,0,0,0, 5,0,0,0, 6,0,0,0, 10,0,0,0, 4,0,0,0,
      ':','m','e','t','h','o','d',0,'G','E','T',0, ':','p','a','t','h',0,'/','c','h','e','c','k',0,
      ':','a','u','t','h','o','r','i','t','y',0,'a','u','t','h',0};
    u32 token = 0;
    u32 r = proxy_http_call("authz", 5, hdrs, sizeof hdrs, "q", 1, 0, 0, 500, &token);
    lb_cstr("http_call r="); lb_u(r); lb_cstr(" token="); lb_u(token); lb_flush(2);
    return 1;
  }
  if (opt_is(&o_cont_rh, "1")) proxy_continue_stream(0);
  if (maybe_local("rh")) return 0; /* the return value must be overridden */
  return (u32)opt_int(&o_rh_ret, 0);
}

static void body_op(u32 type, opt *op, u32 size) {
  char *p = 0; u32 n = 0;
  if (!op->set) return;
  if (opt_is(op, "upper")) {
    proxy_get_buffer_bytes(type, 0, size, &p, &n);
    for (u32 i = 0; i < n; i++) if (p[i] >= 'a' && p[i] <= 'z') p[i] -= 32;
    lb_cstr("set r="); lb_u(proxy_set_buffer_bytes(type, 0, size, p, n)); lb_flush(2);
  } else if (opt_is(op, "prepend")) {
    lb_cstr("set r="); lb_u(proxy_set_buffer_bytes(type, 0, 0, "PRE", 3)); lb_flush(2);
  } else if (opt_is(op, "append")) {
    lb_cstr("set r="); lb_u(proxy_set_buffer_bytes(type, size, 0, "POST", 4)); lb_flush(2);
  } else if (opt_is(op, "mid")) {
    lb_cstr("set r="); lb_u(proxy_set_buffer_bytes(type, 1, 0, "X", 1)); lb_flush(2);
  } else if (opt_is(op, "replace")) {
    lb_cstr("set r="); lb_u(proxy_set_buffer_bytes(type, 0, size, "{\"replaced\":true}", 17)); lb_flush(2);
  } else if (opt_is(op, "drain")) {
    lb_cstr("set r="); lb_u(proxy_set_buffer_bytes(type, 0, 2, "", 0)); lb_flush(2);
  } else if (opt_is(op, "route")) {
    proxy_get_buffer_bytes(type, 0, size, &p, &n);
    int gpt = 0;
    for (u32 i = 0; i + 3 <= n; i++) if (p[i] == 'g' && p[i + 1] == 'p' && p[i + 2] == 't') gpt = 1;
    const char *b = gpt ? "openai" : "anthropic";
    proxy_set_property("aipol_backend", 13, b, slen(b));
    if (opt_is(&o_clear, "1")) {
      char *rp = 0; u32 rn = 0;
      lb_cstr("clear r="); lb_u(proxy_call_foreign_function("clear_route_cache", 17, "", 0, &rp, &rn)); lb_flush(2);
    }
  }
}

EXPORT("proxy_on_request_body") u32 on_request_body(u32 ctx, u32 size, u32 eos) {
  char *p = 0; u32 n = 0;
  u32 r_get = proxy_get_buffer_bytes(0, 0, size, &p, &n);
  lb_cstr("rb size="); lb_u(size); lb_cstr(" eos="); lb_u(eos); lb_cstr(" get="); lb_u(r_get);
  lb_cstr(" body="); lb_str(p, n);
  u32 r_add = proxy_add_header_map_value(0, "x-late", 6, "1", 1);
  u32 r_val = proxy_get_header_map_value(0, ":path", 5, &p, &n);
  u32 r_pairs = proxy_get_header_map_pairs(0, &p, &n);
  lb_cstr(" add="); lb_u(r_add); lb_cstr(" val="); lb_u(r_val); lb_cstr(" pairs="); lb_u(r_pairs);
  lb_cstr(" plen="); lb_u(n); lb_flush(2);
  maybe_trap("rb");
  if (eos) {
    proxy_record_metric(m_body, size);
    body_op(0, &o_rb_op, size);
    if (maybe_local("rb")) return 0;
    return (u32)opt_int(&o_rb_eos_ret, 0);
  }
  return (u32)opt_int(&o_rb_ret, 0);
}

EXPORT("proxy_on_request_trailers") u32 on_request_trailers(u32 ctx, u32 n) {
  lb_cstr("rt n="); lb_u(n); lb_flush(2);
  return 0;
}

EXPORT("proxy_on_http_call_response") void on_http_call_response(u32 root, u32 token, u32 nh, u32 bs, u32 nt) {
  char *p = 0; u32 n = 0; char *s = 0; u32 sn = 0;
  proxy_get_buffer_bytes(4, 0, bs, &p, &n);
  proxy_get_header_map_value(6, ":status", 7, &s, &sn);
  lb_cstr("call_response root="); lb_u(root); lb_cstr(" token="); lb_u(token); lb_cstr(" nh="); lb_u(nh);
  lb_cstr(" status="); lb_str(s, sn); lb_cstr(" body="); lb_str(p, n);
  if (nh == 0) {
    u32 code = 0; char *m = 0; u32 mn = 0;
    proxy_get_status(&code, &m, &mn);
    lb_cstr(" failed code="); lb_u(code); lb_cstr(" msg="); lb_str(m, mn);
  }
  lb_flush(2);
  lb_cstr("effective r="); lb_u(proxy_set_effective_context(stream_id)); lb_flush(2);
  if (seq(p, n, "allow")) proxy_continue_stream(0);
  else local_reply(403);
}

/* ---- response ---- */
EXPORT("proxy_on_response_headers") u32 on_response_headers(u32 ctx, u32 n, u32 eos) {
  char *p = 0; u32 pn = 0;
  proxy_get_header_map_value(2, ":status", 7, &p, &pn);
  lb_cstr("resph status="); lb_str(p, pn); lb_cstr(" eos="); lb_u(eos);
  if (proxy_get_header_map_value(2, "content-type", 12, &p, &pn) == 0) { lb_cstr(" ct="); lb_str(p, pn); }
  lb_flush(2);
  proxy_add_header_map_value(2, "x-filter", 8, "probe", 5);
  maybe_trap("resph");
  if (maybe_local("resph")) return 0;
  return (u32)opt_int(&o_resp_ret, 0);
}

EXPORT("proxy_on_response_body") u32 on_response_body(u32 ctx, u32 size, u32 eos) {
  char *p = 0; u32 n = 0;
  proxy_get_buffer_bytes(1, 0, size, &p, &n);
  u32 r_add = proxy_add_header_map_value(2, "x-late", 6, "1", 1);
  lb_cstr("respb size="); lb_u(size); lb_cstr(" eos="); lb_u(eos); lb_cstr(" add="); lb_u(r_add);
  lb_cstr(" body="); lb_str(p, n); lb_flush(2);
  maybe_trap("respb");
  if (eos) {
    body_op(1, &o_respb_op, size);
    if (maybe_local("respb")) return 0;
    return (u32)opt_int(&o_respb_eos_ret, 0);
  }
  return (u32)opt_int(&o_respb_ret, 0);
}

EXPORT("proxy_on_log") void on_log(u32 ctx) {
  char *p = 0; u32 n = 0;
  u32 r0 = proxy_get_header_map_value(0, ":path", 5, &p, &n);
  lb_cstr("log path r="); lb_u(r0); lb_cstr(" v="); lb_str(p, n);
  u32 r1 = proxy_get_header_map_value(1, "x", 1, &p, &n);
  u32 r2 = proxy_add_header_map_value(2, "x-log", 5, "1", 1);
  lb_cstr(" trailers r="); lb_u(r1); lb_cstr(" add r="); lb_u(r2); lb_flush(2);
  maybe_trap("log");
}

EXPORT("proxy_on_done") u32 on_done(u32 ctx) {
  if (ctx != 1) proxy_increment_metric(m_active, -1);
  lb_cstr("done "); lb_u(ctx); lb_flush(2);
  return 1;
}

EXPORT("proxy_on_delete") void on_delete(u32 ctx) {
  lb_cstr("delete "); lb_u(ctx); lb_flush(2);
}
