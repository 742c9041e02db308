package rewrite

// Uncompiled returns copies of rules without the compiled form that Parse
// keeps in each, so that tests can compare them with rules written out.
func Uncompiled(rules ...Rule) []Rule {
	if rules == nil {
		return nil
	}
	out := make([]Rule, len(rules))
	for i, r := range rules {
		r.c = nil
		out[i] = r
	}
	return out
}
