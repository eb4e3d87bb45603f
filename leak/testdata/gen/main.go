// Command gen writes the goroutine dumps in leak/testdata: each pattern
// sets up the goroutines of one known leak in this process, then dumps
// them. Run from the module root:
//
//	go run ./leak/testdata/gen -pattern sleep-loop > leak/testdata/sleep-loop.txt
//	GOEXPERIMENT=goroutineleakprofile go run ./leak/testdata/gen -pattern proven -profile goroutineleak > leak/testdata/proven.txt
//
// Wait times ("N minutes") need real minutes; the fixtures that show them
// were edited by hand after generation (see README).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"
)

// handlerLabels are the labels tidygram puts on a handler run.
func handlerLabels(handler string, update int) pprof.LabelSet {
	return pprof.Labels("tidygram.bot", "5f2c9a1be044", "component", "handler", "handler", handler,
		"update_id", strconv.Itoa(update), "chat_id", "1001")
}

// asHandler runs fn as tidygram runs a handler: labelled, on its own goroutine.
func asHandler(handler string, update int, fn func(ctx context.Context)) {
	done := make(chan struct{})
	go pprof.Do(context.Background(), pprof.Labels("tidygram.bot", "5f2c9a1be044", "component", "worker"), func(ctx context.Context) {
		defer close(done)
		pprof.Do(ctx, handlerLabels(handler, update), fn)
	})
	<-done
}

// queue feeds the workers, as tidygram's dispatch queue does.
var queue = make(chan func())

// worker parks a labelled tidygram worker, as a running bot has.
func worker() {
	go pprof.Do(context.Background(), pprof.Labels("tidygram.bot", "5f2c9a1be044", "component", "worker"), func(ctx context.Context) {
		for f := range queue {
			f()
		}
	})
}

var keep []any // what the leaks reference, so the GC does not see through them

func main() {
	pattern := flag.String("pattern", "", "which leak to set up")
	profile := flag.String("profile", "goroutine", "profile to dump: goroutine or goroutineleak")
	debug := flag.Int("debug", 2, "debug level of the dump: 1 or 2")
	n := flag.Int("n", 40, "how many leaks")
	flag.Parse()
	os.Setenv("GODEBUG", os.Getenv("GODEBUG")+",tracebacklabels=1")
	for range 2 {
		worker()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"ok":true,"result":[]}`))
	}))
	switch *pattern {
	case "body-not-closed":
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
		for i := range *n {
			asHandler("/photo", 700+i, func(ctx context.Context) {
				req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/file", nil)
				resp, err := c.Do(req)
				if err == nil {
					keep = append(keep, resp) // body never closed
				}
			})
		}
	case "idle-conns":
		for i := range *n {
			asHandler("/weather", 800+i, func(ctx context.Context) {
				c := &http.Client{Transport: &http.Transport{}} // a Transport per request
				req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
				if resp, err := c.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
	case "outlived-update":
		for i := range 5 {
			asHandler("/remind", 900+i, func(ctx context.Context) {
				ch := make(chan int)
				keep = append(keep, ch)
				go func() { <-ch }() // waits for a reply that never comes
			})
		}
	case "sleep-loop":
		for i := range 3 {
			asHandler("/poll", 1000+i, func(ctx context.Context) {
				go func() {
					for {
						time.Sleep(time.Hour)
					}
				}()
			})
		}
	case "select-forever":
		for range 3 {
			go func() { select {} }()
		}
	case "nil-chan":
		var ch chan string
		for range 3 {
			go func() { <-ch }()
		}
	case "ticker-loop":
		for range 6 {
			go func() {
				t := time.NewTicker(5 * time.Millisecond)
				for range t.C {
				}
			}()
		}
		time.Sleep(50 * time.Millisecond)
	case "lost-labels":
		for i := range 4 {
			asHandler("/export", 1100+i, func(ctx context.Context) {
				pprof.Do(context.Background(), pprof.Labels("job", "export"), func(context.Context) {
					ch := make(chan int)
					keep = append(keep, ch)
					go func() { ch <- 1 }()
				})
			})
		}
	case "proven":
		// Unreachable primitives: the goroutineleak profile proves these.
		for i := range 3 {
			asHandler("/search", 1200+i, func(ctx context.Context) {
				ch := make(chan int)
				go func() { ch <- 1 }() // receiver returned early
				var mu sync.Mutex
				mu.Lock()
				go func() { mu.Lock() }() // never unlocked
				var wg sync.WaitGroup
				wg.Add(1)
				go func() { wg.Wait() }() // Done never called
				in := make(chan int)
				go func() { <-in }() // nobody will send
			})
		}
		pprof.Do(context.Background(), pprof.Labels("tidygram.bot", "5f2c9a1be044", "component", "worker"), func(context.Context) {
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			for range 3 {
				if resp, err := c.Get(srv.URL); err == nil {
					_ = resp // dropped unclosed
				}
			}
		})
	case "blocked-hours", "mutex-held":
		ch := make(chan int)
		keep = append(keep, ch)
		var mu sync.Mutex
		mu.Lock()
		keep = append(keep, &mu)
		for range 4 {
			if *pattern == "blocked-hours" {
				go func() { <-ch }()
			} else {
				go func() { mu.Lock() }()
			}
		}
	case "server-conns":
		// Idle keep-alive clients hold server connections open.
		for range 120 {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err == nil {
				fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				keep = append(keep, conn)
			}
		}
	case "dial-stuck":
		ln, _ := net.Listen("tcp", "127.0.0.1:0") // accepts nothing: the TLS handshake hangs
		keep = append(keep, ln)
		for i := range 3 {
			asHandler("/fetch", 1300+i, func(ctx context.Context) {
				c := &http.Client{Transport: &http.Transport{}}
				go c.Get("https://" + ln.Addr().String())
			})
		}
	case "steady":
		// A healthy bot: workers, a poller, pooled connections.
		c := &http.Client{}
		pprof.Do(context.Background(), pprof.Labels("tidygram.bot", "5f2c9a1be044", "component", "poller"), func(context.Context) {
			for range 3 {
				if resp, err := c.Get(srv.URL); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	default:
		fmt.Fprintln(os.Stderr, "unknown pattern", *pattern)
		os.Exit(2)
	}
	time.Sleep(100 * time.Millisecond)
	pprof.Lookup(*profile).WriteTo(os.Stdout, *debug)
}
