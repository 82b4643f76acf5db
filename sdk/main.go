package sdk

// registered is the pass a module serves (see Main).
var registered *Pass

// Main makes p the pass this WebAssembly module serves through the ABI v1
// exports. Call it from an init function of the module's main package: a
// reactor module's main function never runs. Outside a module it only
// records p.
func Main(p *Pass) {
	if registered != nil && registered != p {
		panic("sdk.Main called twice, for " + registered.Name + " and " + p.Name)
	}
	registered = p
}

// Registered returns the pass given to Main, or nil.
func Registered() *Pass { return registered }
