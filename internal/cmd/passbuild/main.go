// Command passbuild builds the WebAssembly module of every built-in pass
// (passes/<name>/wasm → passes/<name>/<name>.wasm.gz) reproducibly, and with
// -check verifies that the committed modules are exactly what the sources
// build (CI runs it). Run it from the repository root:
//
//	go run ./internal/cmd/passbuild            # rebuild all
//	go run ./internal/cmd/passbuild rms_norm   # rebuild one
//	go run ./internal/cmd/passbuild -check     # fail if a committed module differs
//	go run ./internal/cmd/passbuild -twice     # fail unless two builds are byte-identical
//
// Modules are built with
//
//	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared \
//	    -trimpath -buildvcs=false -ldflags="-s -w -buildid="
//
// which makes the bytes a function of the sources and the Go toolchain
// version only; a different toolchain gives different bytes, so -check
// names the toolchain it used. They are committed gzip-compressed
// (host.Gzip: best compression, no name, no timestamp), which -check
// decompresses to compare the module bytes themselves.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/graphpass/graphpass/host"
)

func main() {
	check := flag.Bool("check", false, "build into a temporary directory and fail if any committed module differs")
	twice := flag.Bool("twice", false, "build every module twice and fail unless the builds are byte-identical")
	root := flag.String("root", ".", "repository root")
	jobs := flag.Int("j", runtime.NumCPU(), "parallel builds")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: passbuild [-check] [-twice] [-root dir] [pass ...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*root, flag.Args(), *check, *twice, *jobs); err != nil {
		fmt.Fprintln(os.Stderr, "passbuild:", err)
		os.Exit(1)
	}
}

// pass is one buildable module.
type pass struct {
	name  string // directory under passes/
	pkg   string // ./passes/<name>/wasm
	out   string // passes/<name>/<name>.wasm.gz
	stale string // passes/<name>/<name>.wasm, the uncompressed module of old
}

func discover(root string, only []string) ([]pass, error) {
	dirs, err := filepath.Glob(filepath.Join(root, "passes", "*", "wasm"))
	if err != nil {
		return nil, err
	}
	var all []pass
	for _, d := range dirs {
		name := filepath.Base(filepath.Dir(d))
		all = append(all, pass{name: name, pkg: "./" + filepath.ToSlash(filepath.Join("passes", name, "wasm")),
			out:   filepath.Join(root, "passes", name, name+".wasm.gz"),
			stale: filepath.Join(root, "passes", name, name+".wasm")})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	if len(only) == 0 {
		return all, nil
	}
	var out []pass
	for _, n := range only {
		found := false
		for _, p := range all {
			if p.name == n {
				out = append(out, p)
				found = true
			}
		}
		if !found {
			names := make([]string, len(all))
			for i, p := range all {
				names[i] = p.name
			}
			return nil, fmt.Errorf("no pass %q (have %s)", n, strings.Join(names, ", "))
		}
	}
	return out, nil
}

func run(root string, only []string, check, twice bool, jobs int) error {
	passes, err := discover(root, only)
	if err != nil {
		return err
	}
	if len(passes) == 0 {
		return errors.New("no passes/*/wasm directories found; run from the repository root or pass -root")
	}
	tmp, err := os.MkdirTemp("", "passbuild")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	version, _ := exec.Command("go", "env", "GOVERSION").Output()

	type result struct {
		p    pass
		data []byte
		err  error
	}
	results := make([]result, len(passes))
	sem := make(chan struct{}, max(jobs, 1))
	var wg sync.WaitGroup
	for i, p := range passes {
		wg.Add(1)
		go func(i int, p pass) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			data, err := build(root, p, filepath.Join(tmp, p.name+".wasm"))
			if err == nil && twice {
				var again []byte
				again, err = build(root, p, filepath.Join(tmp, p.name+".2.wasm"))
				if err == nil && !bytes.Equal(data, again) {
					err = fmt.Errorf("two builds differ: the build is not reproducible")
				}
			}
			results[i] = result{p, data, err}
		}(i, p)
	}
	wg.Wait()

	var failed []string
	for _, r := range results {
		if r.err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", r.p.name, r.err))
			continue
		}
		gz := host.Gzip(r.data)
		if check {
			if msg := checkCommitted(r.p, r.data, gz); msg != "" {
				failed = append(failed, fmt.Sprintf("%s: %s", r.p.name, msg))
			} else {
				fmt.Printf("ok    %-20s %8d bytes, %8d gzipped\n", r.p.name, len(r.data), len(gz))
			}
			continue
		}
		if err := os.WriteFile(r.p.out, gz, 0o644); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", r.p.name, err))
			continue
		}
		if err := os.Remove(r.p.stale); err != nil && !errors.Is(err, os.ErrNotExist) {
			failed = append(failed, fmt.Sprintf("%s: %v", r.p.name, err))
			continue
		}
		fmt.Printf("built %-20s %8d bytes, %8d gzipped\n", r.p.name, len(r.data), len(gz))
	}
	if len(failed) > 0 {
		msg := strings.Join(failed, "\n  ")
		if check {
			msg += fmt.Sprintf("\n  (built with %s; rebuild with `go run ./internal/cmd/passbuild` and commit)", strings.TrimSpace(string(version)))
		}
		return fmt.Errorf("%d of %d modules failed:\n  %s", len(failed), len(passes), msg)
	}
	return nil
}

// checkCommitted compares the committed module of p with a fresh build
// (data, and gz its compression); it returns what is wrong, or "".
func checkCommitted(p pass, data, gz []byte) string {
	if _, err := os.Stat(p.stale); err == nil {
		return fmt.Sprintf("uncompressed %s is still there: the modules are committed as .wasm.gz; delete it", p.stale)
	}
	old, err := os.ReadFile(p.out)
	if err != nil {
		return fmt.Sprintf("committed module missing: %v", err)
	}
	if bytes.Equal(old, gz) {
		return ""
	}
	mod, err := host.Gunzip(old)
	switch {
	case err != nil:
		return fmt.Sprintf("committed %s: %v", p.out, err)
	case !bytes.Equal(mod, data):
		return fmt.Sprintf("committed %s (%d bytes) differs from a fresh build (%d bytes)", p.out, len(mod), len(data))
	}
	// The same module, compressed by another compress/flate: not stale.
	fmt.Fprintf(os.Stderr, "passbuild: %s: same module, gzip bytes differ from this toolchain's (rebuild to normalise)\n", p.out)
	return ""
}

func build(root string, p pass, out string) ([]byte, error) {
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid=", "-o", out, p.pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %s: %v\n%s", p.pkg, err, strings.TrimSpace(stderr.String()))
	}
	return os.ReadFile(out)
}
