// Package examplestest builds every program under examples/ and runs it
// with no arguments, as CI's smoke test of the examples: each must exit 0
// within a minute and print its key lines. Directories added to examples/
// later are picked up without changes here.
package examplestest
