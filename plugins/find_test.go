package plugins

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/backend"
)

func TestFind(t *testing.T) {
	envDir, cfgDir, cliDir := t.TempDir(), t.TempDir(), t.TempDir()
	self := filepath.Join(cliDir, "pipeline")
	touch := func(dir, name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	touch(cliDir, "pipeline")
	RegisterEmbedded("findtest", func() (backend.Runtime, error) { return &fakeRuntime{}, nil })
	t.Setenv(EnvPluginDir, "")
	opts := FindOptions{Dirs: []string{cfgDir}, Self: self, Env: []string{"K=V"}}

	// Only embedded so far: the CLI re-executes itself.
	b, err := Find("findtest", opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := (&Binary{Name: "findtest", Path: self, Args: []string{"plugin", "serve", "findtest"}, Env: []string{"K=V"}, Source: "embedded"}); !reflect.DeepEqual(b, want) {
		t.Fatalf("embedded: %+v", b)
	}
	// An installed plugin overrides the embedded one: next to the CLI, then
	// the configured dirs, then $GRAPHPASS_PLUGIN_DIR, each winning over
	// the previous.
	steps := []struct {
		dir, source string
		env         bool
	}{{cliDir, "next to the CLI", false}, {cfgDir, "plugin dir", false}, {envDir, "$" + EnvPluginDir, true}}
	for _, st := range steps {
		p := touch(st.dir, BinaryPrefix+"findtest")
		if st.env {
			t.Setenv(EnvPluginDir, string(os.PathListSeparator)+st.dir)
		}
		b, err := Find("findtest", opts)
		if err != nil {
			t.Fatal(err)
		}
		if b.Path != p || b.Source != st.source || len(b.Args) != 0 {
			t.Fatalf("after installing in %s: %+v", st.source, b)
		}
	}
	// An explicit path is used as is, named after the file.
	p := touch(t.TempDir(), BinaryPrefix+"gpu9")
	b, err = Find(p, opts)
	if err != nil || b.Path != p || b.Name != "gpu9" || b.Source != "path" {
		t.Fatalf("explicit path: %+v %v", b, err)
	}
	// Failures name what was looked for.
	for _, tt := range []struct{ name, want string }{
		{"tpu", `unknown runtime "tpu": no pipeline-runtime-tpu in `},
		{filepath.Join(t.TempDir(), "nope"), "nope: no such file"},
		{t.TempDir() + "/", "is a directory"},
		{"", "empty runtime name"},
	} {
		_, err := Find(tt.name, opts)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Find(%q) = %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := Find("tpu", opts); !strings.Contains(err.Error(), "built in: ") || !strings.Contains(err.Error(), cfgDir) {
		t.Errorf("unknown runtime error lacks the searched dirs or the built-in names: %v", err)
	}
}
