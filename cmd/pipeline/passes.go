package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/graphpass/graphpass/passes"
)

// passJSON is one built-in pass in `pipeline passes --json`.
type passJSON struct {
	Name          string          `json:"name"`
	Version       string          `json:"version"`
	Description   string          `json:"description"`
	Default       bool            `json:"default"`
	Order         int             `json:"order"` // position in the canonical order
	Consumes      []string        `json:"consumes"`
	Produces      []string        `json:"produces"`
	OptionsSchema json.RawMessage `json:"options_schema"`
	SHA256        string          `json:"sha256"`
	ModuleBytes   int             `json:"module_bytes"`
}

func init() {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "passes [NAME ...]",
		Short: "List the built-in rewrite passes, their defaults and options",
		Long: `Passes lists the rewrite passes built into pipeline: each is a sandboxed
WebAssembly module (ABI v1) embedded in the binary. The default pipeline
runs the passes marked "default" in the order shown; opt-in passes run only
when named (pipeline.yaml "passes:" or "only:"). Naming native_attention
also runs if_present, as the seed does.

With NAME arguments, passes shows those passes in detail: the ops they
match and emit, their options (from the options schema the module
declares) and the module's size and SHA-256 (what "sha256:" pins).`,
		Example: `  pipeline passes
  pipeline passes sdpa native_attention
  pipeline passes --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			all := passes.All()
			list := all
			if len(args) > 0 {
				list = nil
				for _, name := range args {
					b, ok := passes.Lookup(name)
					if !ok {
						return usagef("unknown pass %q (known: %s)", name, strings.Join(passes.Names(), ", "))
					}
					list = append(list, b)
				}
			}
			out := make([]passJSON, len(list))
			for i, b := range list {
				sum := sha256.Sum256(b.Wasm)
				out[i] = passJSON{Name: b.Name, Version: b.Version, Description: b.Description, Default: b.Default,
					Order: orderOf(b.Name), Consumes: nonNilStrings(b.Consumes), Produces: nonNilStrings(b.Produces),
					OptionsSchema: json.RawMessage(b.OptionsSchema), SHA256: hex.EncodeToString(sum[:]), ModuleBytes: len(b.Wasm)}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return emitJSON(w, out)
			}
			if len(args) > 0 {
				for i, p := range out {
					if i > 0 {
						fmt.Fprintln(w)
					}
					writePassDetail(w, p)
				}
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tRUNS\tVERSION\tDESCRIPTION")
			for _, p := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, runs(p.Default), p.Version, p.Description)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, p := range out {
				if opts := parseOptions(p.OptionsSchema); len(opts) > 0 {
					fmt.Fprintf(w, "\noptions of %s:\n", p.Name)
					writeOptions(w, opts)
				}
			}
			return nil
		},
	}
	cmd.Args = usageArgs(cobra.ArbitraryArgs)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the passes as a JSON array")
	root.AddCommand(cmd)
}

func runs(def bool) string {
	if def {
		return "default"
	}
	return "opt-in"
}

func orderOf(name string) int {
	for i, n := range passes.Names() {
		if n == name {
			return i
		}
	}
	return -1
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// option is one property of an options schema.
type option struct {
	Name        string
	Type        string
	Default     json.RawMessage
	Description string
	Enum        []json.RawMessage
	Min, Max    *float64
}

// parseOptions reads the properties of a pass's options schema, in the
// order the schema lists them.
func parseOptions(schema json.RawMessage) []option {
	var s struct {
		Properties json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(schema, &s) != nil || len(s.Properties) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(s.Properties)))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var opts []option
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return opts
		}
		var p struct {
			Type        string            `json:"type"`
			Default     json.RawMessage   `json:"default"`
			Description string            `json:"description"`
			Enum        []json.RawMessage `json:"enum"`
			Minimum     *float64          `json:"minimum"`
			Maximum     *float64          `json:"maximum"`
			Items       struct {
				Type string `json:"type"`
			} `json:"items"`
		}
		if err := dec.Decode(&p); err != nil {
			return opts
		}
		typ := p.Type
		if typ == "array" {
			typ = "array of " + p.Items.Type
		}
		opts = append(opts, option{Name: t.(string), Type: typ, Default: p.Default, Description: p.Description,
			Enum: p.Enum, Min: p.Minimum, Max: p.Maximum})
	}
	return opts
}

func writeOptions(w io.Writer, opts []option) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, o := range opts {
		var extra []string
		if len(o.Enum) > 0 {
			vals := make([]string, len(o.Enum))
			for i, e := range o.Enum {
				vals[i] = string(e)
			}
			extra = append(extra, "one of "+strings.Join(vals, ", "))
		}
		if o.Min != nil {
			extra = append(extra, fmt.Sprintf("≥ %g", *o.Min))
		}
		if o.Max != nil {
			extra = append(extra, fmt.Sprintf("≤ %g", *o.Max))
		}
		desc := o.Description
		if len(extra) > 0 {
			desc = strings.TrimSpace(desc + " (" + strings.Join(extra, "; ") + ")")
		}
		def := string(o.Default)
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\tdefault %s\t%s\n", o.Name, o.Type, def, desc)
	}
	tw.Flush()
}

func writePassDetail(w io.Writer, p passJSON) {
	fmt.Fprintf(w, "%s %s (%s)\n", p.Name, p.Version, runs(p.Default))
	fmt.Fprintf(w, "  %s\n", p.Description)
	if len(p.Consumes) > 0 {
		fmt.Fprintf(w, "  matches:  %s\n", strings.Join(p.Consumes, ", "))
	}
	if len(p.Produces) > 0 {
		fmt.Fprintf(w, "  emits:    %s\n", strings.Join(p.Produces, ", "))
	}
	fmt.Fprintf(w, "  module:   %d bytes, sha256 %s\n", p.ModuleBytes, p.SHA256)
	if opts := parseOptions(p.OptionsSchema); len(opts) > 0 {
		fmt.Fprintln(w, "  options:")
		writeOptions(w, opts)
	} else {
		fmt.Fprintln(w, "  options:  none")
	}
}
