package leak_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tidygram/tidygram/leak"
)

// The runtime tells Survivors when each handler starts and returns, and
// checks on timers (Start); goroutines still labelled with an update
// grace after its handler returned are reported once.
func ExampleSurvivors() {
	s, err := leak.NewSurvivors("bot-id", leak.WithGrace(30*time.Second),
		leak.WithReport(func(r leak.Report) { fmt.Println(r) }))
	if err != nil {
		fmt.Println(err) // an *OptionError: an option value out of range
		return
	}
	stop := s.Start(context.Background())
	s.Started(42)         // before the handler of update 42 runs
	s.Ended(42, "/start") // after it returned
	stop()
	fmt.Println(s.Leaked())
	// Output: 0
}

// Parse reads any goroutine dump; Analyze explains it.
func ExampleAnalyze() {
	dump := `goroutine 7 [select (no cases)]:
main.main.func1()
	/app/main.go:12 +0x1e
created by main.main in goroutine 1
	/app/main.go:11 +0x5f
`
	d, err := leak.Parse(strings.NewReader(dump))
	if err != nil {
		panic(err)
	}
	a := leak.Analyze(d)
	fmt.Println(a.Total, a.Findings[0].ID)
	fmt.Println(a.Findings[0].Fix)
	// Output:
	// 1 select-forever
	// Never park a goroutine with select {}: wait for <-ctx.Done() so it can be stopped.
}
