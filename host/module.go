package host

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// MaxModuleSize bounds the size of a module, after decompression for a
// gzip-compressed one (so a small .wasm.gz cannot expand without limit).
const MaxModuleSize = 256 << 20

// maxModuleSize is MaxModuleSize; tests lower it.
var maxModuleSize int64 = MaxModuleSize

// gzipMagic starts every gzip stream; a WebAssembly module starts with
// "\x00asm", so the two cannot be confused.
var gzipMagic = []byte{0x1f, 0x8b}

// IsGzip reports whether b is gzip-compressed (starts with gzip's magic).
func IsGzip(b []byte) bool { return bytes.HasPrefix(b, gzipMagic) }

// moduleBytes returns the WebAssembly bytes of b: b itself, or b
// decompressed when it is gzip-compressed (a .wasm.gz file).
func moduleBytes(b []byte) ([]byte, error) {
	if !IsGzip(b) {
		return b, nil
	}
	return Gunzip(b)
}

// Gunzip decompresses a gzip-compressed module (a .wasm.gz file), refusing
// one that expands beyond MaxModuleSize.
func Gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(zr, maxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if n > maxModuleSize {
		return nil, fmt.Errorf("gzip: module decompresses to more than %d bytes", maxModuleSize)
	}
	if err := zr.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return out.Bytes(), nil
}

// Gzip compresses a module deterministically, as the committed built-in
// modules are: best compression, no file name, no modification time, so
// equal modules give equal bytes (with the same compress/flate).
func Gzip(wasm []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	_, _ = zw.Write(wasm)                                    // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	return buf.Bytes()
}

// moduleName is the default name of a module file: its base name without
// .wasm or .wasm.gz.
func moduleName(path string) string {
	base := filepath.Base(path)
	for _, ext := range []string{".gz", ".wasm"} {
		base = strings.TrimSuffix(base, ext)
	}
	return base
}

var errTrustedFile = errors.New("a trusted module must come with its bytes (Module.Wasm, e.g. embedded in the program), not from a file")
