// dropout.c: the dropout pass of graphpass written in C, against ABI v1
// alone (abi/SPEC.md), with no libc and no WASI: a proof that the ABI is
// language-neutral. It removes every Dropout node (the identity at
// inference) and redirects its readers to its input, exactly like the Go
// pass passes/dropout, and notes dropouts with a nonzero rate.
//
// Build: ./build.sh (clang --target=wasm32 -nostdlib, wasm-ld).
//
// Protobuf is read and written by hand below: varints, length-delimited
// fields, and nothing else, since that is all the messages need.

typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

#define EXPORT(name) __attribute__((export_name(name)))

__attribute__((import_module("graphpass"), import_name("log")))
void host_log(u32 level, const void *ptr, u32 len);

// ── memory: a bump allocator over the heap, growing memory as needed ──

extern u8 __heap_base;
static u32 heap_top;

static void *alloc(u32 n) {
	if (!heap_top) heap_top = (u32)&__heap_base;
	u32 p = (heap_top + 7) & ~7u;
	u32 end = p + n;
	if (end < p) __builtin_trap();
	u32 have = (u32)__builtin_wasm_memory_size(0) * 65536u;
	if (end > have) {
		u32 pages = (end - have + 65535) / 65536;
		if (__builtin_wasm_memory_grow(0, pages) == (unsigned long)-1) __builtin_trap();
	}
	heap_top = end;
	return (void *)p;
}

static void copy(u8 *dst, const u8 *src, u32 n) {
	for (u32 i = 0; i < n; i++) dst[i] = src[i];
}

static u32 cstrlen(const char *s) {
	u32 n = 0;
	while (s[n]) n++;
	return n;
}

static int equal(const u8 *a, u32 an, const char *b) {
	u32 bn = cstrlen(b);
	if (an != bn) return 0;
	for (u32 i = 0; i < an; i++)
		if (a[i] != (u8)b[i]) return 0;
	return 1;
}

// ── reading protobuf ──

typedef struct { const u8 *p, *end; int bad; } reader;

static u64 read_varint(reader *r) {
	u64 v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) { r->bad = 1; return 0; }
		u8 b = *r->p++;
		v |= (u64)(b & 0x7f) << shift;
		if (!(b & 0x80)) return v;
	}
	r->bad = 1;
	return 0;
}

typedef struct { u32 num, type; u64 v; const u8 *data; u32 len; } field;

// next reads one field; returns 0 at the end or on malformed input.
static int next(reader *r, field *f) {
	if (r->p >= r->end || r->bad) return 0;
	u64 tag = read_varint(r);
	f->num = (u32)(tag >> 3);
	f->type = (u32)(tag & 7);
	switch (f->type) {
	case 0: f->v = read_varint(r); break;
	case 1:
		if (r->end - r->p < 8) { r->bad = 1; return 0; }
		f->v = 0;
		for (int i = 0; i < 8; i++) f->v |= (u64)r->p[i] << (8 * i);
		r->p += 8;
		break;
	case 2: {
		u64 n = read_varint(r);
		if (r->bad || n > (u64)(r->end - r->p)) { r->bad = 1; return 0; }
		f->data = r->p;
		f->len = (u32)n;
		r->p += n;
		break;
	}
	case 5:
		if (r->end - r->p < 4) { r->bad = 1; return 0; }
		r->p += 4;
		break;
	default: r->bad = 1; return 0; // groups are not used by ABI v1
	}
	return !r->bad;
}

// ── writing protobuf ──

typedef struct { u8 *p; u32 len, cap; } writer;

static void put(writer *w, const u8 *b, u32 n) {
	if (w->len + n > w->cap) {
		u32 cap = (w->cap ? w->cap * 2 : 4096);
		while (cap < w->len + n) cap *= 2;
		u8 *np = alloc(cap);
		copy(np, w->p, w->len);
		w->p = np;
		w->cap = cap;
	}
	copy(w->p + w->len, b, n);
	w->len += n;
}

static void put_varint(writer *w, u64 v) {
	u8 b[10];
	u32 n = 0;
	do {
		b[n] = (u8)(v & 0x7f);
		v >>= 7;
		if (v) b[n] |= 0x80;
		n++;
	} while (v);
	put(w, b, n);
}

static void put_bytes(writer *w, u32 num, const u8 *b, u32 n) {
	put_varint(w, (u64)num << 3 | 2);
	put_varint(w, n);
	put(w, b, n);
}

static void put_str(writer *w, u32 num, const char *s) { put_bytes(w, num, (const u8 *)s, cstrlen(s)); }

// put_message appends field num holding the bytes of inner.
static void put_message(writer *w, u32 num, const writer *inner) { put_bytes(w, num, inner->p, inner->len); }

// ── the pass ──

static u64 packed(const writer *w) { return w->len ? ((u64)(u32)w->p << 32) | w->len : 0; }

// PassInfo { abi_version: 1, name, version, description, consumes }
EXPORT("graphpass_info") u64 graphpass_info(void) {
	static writer w;
	w.len = 0;
	put_varint(&w, 1 << 3 | 0);
	put_varint(&w, 1);
	put_str(&w, 2, "dropout_c");
	put_str(&w, 3, "1.0.0");
	put_str(&w, 4, "remove Dropout nodes (the identity at inference); written in C against ABI v1");
	put_str(&w, 6, "Dropout");
	return packed(&w);
}

EXPORT("graphpass_abi_v1") void graphpass_abi_v1(void) {}

EXPORT("graphpass_alloc") u32 graphpass_alloc(u32 size) { return (u32)alloc(size ? size : 1); }

static u64 fail(const char *code, const char *message) {
	static writer w, e;
	w.len = e.len = 0;
	put_str(&e, 1, code);
	put_str(&e, 2, message);
	put_message(&w, 2, &e);
	return packed(&w);
}

EXPORT("graphpass_run") u64 graphpass_run(u32 ptr, u32 len) {
	reader req = {(const u8 *)ptr, (const u8 *)ptr + len, 0};
	field f;
	const u8 *graph = 0;
	u32 graph_len = 0;
	u64 version = 0;
	while (next(&req, &f)) {
		if (f.num == 1 && f.type == 0) version = f.v;
		if (f.num == 2 && f.type == 2) { graph = f.data; graph_len = f.len; }
	}
	if (req.bad) return fail("invalid_graph", "malformed RunRequest");
	if (version != 1) return fail("unsupported_abi", "this pass speaks ABI v1 only");

	writer patch = {0}, notes = {0};
	u32 rewrites = 0;
	reader g = {graph, graph + graph_len, 0};
	while (next(&g, &f)) {
		if (f.num != 5 || f.type != 2) continue; // Graph.nodes
		reader node = {f.data, f.data + f.len, 0};
		field nf;
		const u8 *name = 0, *op = 0, *in0 = 0, *out0 = 0;
		u32 name_n = 0, op_n = 0, in0_n = 0, out0_n = 0, nin = 0, nout = 0;
		int nonzero_rate = 0;
		while (next(&node, &nf)) {
			if (nf.type != 2) continue;
			switch (nf.num) {
			case 1: name = nf.data; name_n = nf.len; break;
			case 2: op = nf.data; op_n = nf.len; break;
			case 3: if (nin++ == 0) { in0 = nf.data; in0_n = nf.len; } break;
			case 4: if (nout++ == 0) { out0 = nf.data; out0_n = nf.len; } break;
			case 5: { // Attribute { name = 1, f = 4 }
				reader a = {nf.data, nf.data + nf.len, 0};
				field af;
				int is_rate = 0;
				u64 bits = 0;
				while (next(&a, &af)) {
					if (af.num == 1 && af.type == 2) is_rate = equal(af.data, af.len, "rate");
					if (af.num == 4 && af.type == 1) bits = af.v;
				}
				if (is_rate && (bits << 1) != 0) nonzero_rate = 1; // not ±0
				break;
			}
			}
		}
		if (node.bad) return fail("invalid_graph", "malformed Node");
		if (!op || !equal(op, op_n, "Dropout") || nin != 1 || nout != 1) continue;

		// Rewrite { reason = 1, remove_nodes = 2, remaps = 4 { from = 1, to = 2 } }
		writer rw = {0}, remap = {0}, reason = {0};
		put(&reason, (const u8 *)"Dropout ", 8);
		put(&reason, name, name_n);
		put(&reason, (const u8 *)" is the identity at inference", 29);
		put_bytes(&rw, 1, reason.p, reason.len);
		put_bytes(&rw, 2, name, name_n);
		put_bytes(&remap, 1, out0, out0_n);
		put_bytes(&remap, 2, in0, in0_n);
		put_message(&rw, 4, &remap);
		put_message(&patch, 1, &rw);
		rewrites++;

		if (nonzero_rate) { // Note { node = 1, message = 2 }
			writer note = {0};
			put_bytes(&note, 1, name, name_n);
			put_str(&note, 2, "nonzero dropout rate ignored: inference");
			put_message(&notes, 3, &note);
		}
	}
	if (g.bad) return fail("invalid_graph", "malformed Graph");

	static const char msg[] = "dropout_c: rewrites done";
	host_log(1, msg, sizeof msg - 1);

	// RunResponse { patch = 1, notes = 3 }: fields in number order.
	writer resp = {0};
	if (rewrites) put_message(&resp, 1, &patch);
	if (notes.len) put(&resp, notes.p, notes.len);
	static writer out;
	out = resp;
	return packed(&out);
}
