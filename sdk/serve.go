package sdk

import (
	"strconv"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
)

// PassInfo returns p's ABI v1 declaration.
func (p *Pass) PassInfo() *abi.PassInfo {
	in := p.Info()
	return &abi.PassInfo{ABIVersion: abi.Version1, Name: in.Name, Version: in.Version, Description: in.Description,
		OptionsSchemaJSON: in.OptionsSchemaJSON, Consumes: in.Consumes, Produces: in.Produces}
}

// Serve answers one ABI v1 run request with p: what the module's
// graphpass_run export returns, decoded. It never fails; failures are
// RunResponse.Error.
func (p *Pass) Serve(req *abi.RunRequest) *abi.RunResponse {
	if req.ABIVersion != abi.Version1 {
		return &abi.RunResponse{Error: &abi.PassError{Code: CodeUnsupportedABI,
			Message: "pass " + p.Name + " speaks ABI v1, request is v" + strconv.Itoa(int(req.ABIVersion))}}
	}
	if req.Graph == nil {
		return &abi.RunResponse{Error: &abi.PassError{Code: CodeInvalidGraph, Message: "request has no graph"}}
	}
	var types map[string]graph.TensorType
	if len(req.ValueTypes) > 0 || len(req.Graph.Nodes) == 0 {
		// The request carries intermediate values; graph inputs and
		// initializers are declared in the graph itself.
		types = withDeclaredTypes(req)
	} // else infer (natively; a module cannot)
	res, err := p.Run(req.Graph, types, req.OptionsJSON)
	if err != nil {
		e, ok := err.(*Error)
		if !ok {
			e = &Error{Code: CodeRuleFailed, Message: err.Error()}
		}
		return &abi.RunResponse{Error: &abi.PassError{Code: e.Code, Message: e.Message}}
	}
	resp := &abi.RunResponse{Patch: res.Patch}
	for _, n := range res.Notes {
		resp.Notes = append(resp.Notes, abi.Note{Node: n.Node, Message: n.Message})
	}
	return resp
}

// withDeclaredTypes adds the declared types of graph inputs and
// initializers the request's value types lack (it owns the decoded map).
func withDeclaredTypes(req *abi.RunRequest) map[string]graph.TensorType {
	types := req.ValueTypes
	if types == nil {
		types = make(map[string]graph.TensorType, len(req.Graph.Inputs)+len(req.Graph.Initializers))
	}
	for _, in := range req.Graph.Inputs {
		if _, ok := types[in.Name]; !ok {
			types[in.Name] = in.Type
		}
	}
	for _, in := range req.Graph.Initializers {
		if _, ok := types[in.Name]; !ok {
			types[in.Name] = in.Type
		}
	}
	return types
}
