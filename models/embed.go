// Package models bundles the project's default model, kjv-fortunes-7m (a
// 6.8 M-parameter Qwen3 trained on the King James Bible and fortune files;
// see kjv-fortunes-7m/README.md), so `pipeline run` works from any directory
// with nothing downloaded.
package models

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed kjv-fortunes-7m
var files embed.FS

// DefaultName is the bundled model's name.
const DefaultName = "kjv-fortunes-7m"

// DefaultDir returns a directory holding the bundled model. In a source
// checkout that is the repository's own copy; otherwise the embedded files
// are written once under the user cache directory (weights are memory-mapped,
// so they must live in a real file).
func DefaultDir() (string, error) {
	if dir, ok := checkoutDir(); ok {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	sum, err := contentHash()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(base, "graphpass", "models", DefaultName+"-"+sum[:12])
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".extract-")
	if err != nil {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return "", fmt.Errorf("bundled model: %w", err)
		}
		if tmp, err = os.MkdirTemp(filepath.Dir(dir), ".extract-"); err != nil {
			return "", fmt.Errorf("bundled model: %w", err)
		}
	}
	defer os.RemoveAll(tmp)
	entries, err := fs.ReadDir(files, DefaultName)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		b, err := files.ReadFile(DefaultName + "/" + e.Name())
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(tmp, e.Name()), b, 0o644); err != nil {
			return "", fmt.Errorf("bundled model: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil && !os.IsExist(err) {
		if _, statErr := os.Stat(filepath.Join(dir, "config.json")); statErr != nil {
			return "", fmt.Errorf("bundled model: %w", err)
		}
	}
	return dir, nil
}

// checkoutDir finds the repository copy when running from a source tree.
func checkoutDir() (string, bool) {
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		cand := filepath.Join(dir, "models", DefaultName)
		if _, err := os.Stat(filepath.Join(cand, "model.safetensors")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return cand, true
			}
		}
		if filepath.Dir(dir) == dir {
			return "", false
		}
	}
}

func contentHash() (string, error) {
	h := sha256.New()
	entries, err := fs.ReadDir(files, DefaultName)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		b, err := files.ReadFile(DefaultName + "/" + e.Name())
		if err != nil {
			return "", err
		}
		h.Write([]byte(e.Name()))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
