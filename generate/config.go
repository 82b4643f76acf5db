package generate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/graphpass/graphpass/generate/sample"
	"github.com/graphpass/graphpass/graph"
)

// GenerationConfig is what a checkpoint's generation_config.json says;
// nil fields were not set.
type GenerationConfig struct {
	DoSample          *bool
	Temperature       *float64
	TopK              *int
	TopP              *float64
	MinP              *float64
	RepetitionPenalty *float64
	MaxNewTokens      *int
	EOSTokenIDs       []int32
	BOSTokenID        *int32
	PadTokenID        *int32
}

// LoadGenerationConfig reads dir/generation_config.json; a directory
// without one gives the zero GenerationConfig.
func LoadGenerationConfig(dir string) (GenerationConfig, error) {
	path := filepath.Join(dir, "generation_config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return GenerationConfig{}, nil
	}
	if err != nil {
		return GenerationConfig{}, fmt.Errorf("generate: %w", err)
	}
	gc, err := ParseGenerationConfig(b)
	if err != nil {
		return gc, fmt.Errorf("generate: %s: %w", path, err)
	}
	return gc, nil
}

// ParseGenerationConfig parses the contents of a generation_config.json.
func ParseGenerationConfig(data []byte) (GenerationConfig, error) {
	var raw struct {
		DoSample          *bool           `json:"do_sample"`
		Temperature       *float64        `json:"temperature"`
		TopK              *int            `json:"top_k"`
		TopP              *float64        `json:"top_p"`
		MinP              *float64        `json:"min_p"`
		RepetitionPenalty *float64        `json:"repetition_penalty"`
		MaxNewTokens      *int            `json:"max_new_tokens"`
		EOS               json.RawMessage `json:"eos_token_id"`
		BOS               *int32          `json:"bos_token_id"`
		Pad               *int32          `json:"pad_token_id"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return GenerationConfig{}, fmt.Errorf("malformed generation_config.json: %w", err)
	}
	gc := GenerationConfig{
		DoSample: raw.DoSample, Temperature: raw.Temperature, TopK: raw.TopK, TopP: raw.TopP,
		MinP: raw.MinP, RepetitionPenalty: raw.RepetitionPenalty, MaxNewTokens: raw.MaxNewTokens,
		BOSTokenID: raw.BOS, PadTokenID: raw.Pad,
	}
	ids, err := parseIDList(raw.EOS)
	if err != nil {
		return gc, fmt.Errorf("eos_token_id: %w", err)
	}
	gc.EOSTokenIDs = ids
	return gc, nil
}

// parseIDList reads null, an id, or a list of ids.
func parseIDList(raw json.RawMessage) ([]int32, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return nil, nil
	}
	var one int32
	if err := json.Unmarshal(raw, &one); err == nil {
		return []int32{one}, nil
	}
	var many []int32
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("want an id or a list of ids, got %s", s)
	}
	return many, nil
}

// EOSFromMetadata reads graph metadata's eos_token_ids ("1,2").
func EOSFromMetadata(md map[string]string) ([]int32, error) {
	v := strings.TrimSpace(md[graph.MetaEOSTokenIDs])
	if v == "" {
		return nil, nil
	}
	var ids []int32
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("graph metadata %s=%q: %w", graph.MetaEOSTokenIDs, v, err)
		}
		ids = append(ids, int32(n))
	}
	return ids, nil
}

// Defaults used when neither generation_config.json nor the caller says
// otherwise; they are transformers' GenerationConfig defaults.
const (
	DefaultMaxNewTokens = 128
	DefaultTopK         = 50
)

// DefaultParams returns the parameters generation_config.json asks for:
// sampling with its temperature / top-k / top-p / min-p / repetition
// penalty when do_sample is true (transformers' defaults, temperature 1
// and top-k 50, where it is silent), greedy otherwise, and its EOS ids.
// Callers override fields from flags afterwards.
func DefaultParams(gc GenerationConfig) Params {
	p := Params{MaxNewTokens: DefaultMaxNewTokens, EOS: gc.EOSTokenIDs}
	if gc.MaxNewTokens != nil && *gc.MaxNewTokens > 0 {
		p.MaxNewTokens = *gc.MaxNewTokens
	}
	if gc.PadTokenID != nil {
		p.PadID = *gc.PadTokenID
	} else if len(gc.EOSTokenIDs) > 0 {
		p.PadID = gc.EOSTokenIDs[0]
	}
	if gc.RepetitionPenalty != nil {
		p.Sampling.RepetitionPenalty = *gc.RepetitionPenalty
	}
	if gc.DoSample == nil || !*gc.DoSample {
		return p
	}
	p.Sampling = sample.Params{
		Temperature:       1,
		TopK:              DefaultTopK,
		RepetitionPenalty: p.Sampling.RepetitionPenalty,
	}
	if gc.Temperature != nil {
		p.Sampling.Temperature = *gc.Temperature
	}
	if gc.TopK != nil {
		p.Sampling.TopK = *gc.TopK
	}
	if gc.TopP != nil {
		p.Sampling.TopP = *gc.TopP
	}
	if gc.MinP != nil {
		p.Sampling.MinP = *gc.MinP
	}
	return p
}
