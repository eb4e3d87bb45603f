package leak_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tidygram/tidygram/leak"
)

// The runtime tells Survivors when each handler returns and runs it;
// goroutines still labelled with an update after the grace period are
// reported once.
func ExampleSurvivors() {
	s := leak.NewSurvivors("bot-id", leak.WithGrace(30*time.Second),
		leak.WithReport(func(r leak.Report) { fmt.Println(r) }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	s.Ended(42, "/start") // after the handler of update 42 returned
	cancel()
	fmt.Println(<-done)
	// Output: context canceled
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
