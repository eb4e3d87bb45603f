package demo_test

import (
	"fmt"

	"github.com/tidygram/tidygram/internal/demo"
)

// A fault spec names, per Bot API method, a kind of failure and how often.
func ExampleParseFaults() {
	rules, err := demo.ParseFaults("getUpdates:502:0.2, sendMessage:429:0.05:3, getUpdates:hang:0.1:2s")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rules {
		fmt.Println(r.Method, r.Fault.Kind, r.Probability)
	}
	_, err = demo.ParseFaults("getUpdates:teapot:0.1")
	fmt.Println(err)
	// Output:
	// getUpdates 502 0.2
	// sendMessage 429 0.05
	// getUpdates hang 0.1
	// bad fault spec: "getUpdates:teapot:0.1": unknown fault kind "teapot"
}
