package leak

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/wait"
)

func TestTrackerReportsDroppedBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 64<<10)))
	}))
	defer srv.Close()
	var mu sync.Mutex
	var got []Unclosed
	tr := NewTracker(WithUnclosed(func(u Unclosed) { mu.Lock(); got = append(got, u); mu.Unlock() }))
	base := &http.Transport{MaxIdleConnsPerHost: 2}
	defer base.CloseIdleConnections()
	client := tr.Client(&http.Client{Transport: base})

	const n = 10
	pprof.Do(context.Background(), pprof.Labels(LabelHandler, "/photo", LabelUpdateID, "77"), func(ctx context.Context) {
		for i := range n {
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/file/bot123:SECRET/photo.jpg", nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			} // odd ones are dropped without Close
		}
	})
	if tr.Opened() != n {
		t.Fatalf("opened %d, want %d", tr.Opened(), n)
	}
	// Wait for the reports, not the count: a body is counted just before
	// it is reported, so the count can be complete while the last report
	// is still on its way.
	wait.For(10*time.Second, func() bool {
		mu.Lock()
		reported := len(got)
		mu.Unlock()
		if reported >= n/2 {
			return true
		}
		runtime.GC()
		return false
	})
	mu.Lock()
	defer mu.Unlock()
	if tr.Unclosed() != n/2 || len(got) != n/2 || tr.Open() != 0 {
		t.Fatalf("unclosed %d, reports %d, open %d; want %d, %d, 0", tr.Unclosed(), len(got), tr.Open(), n/2, n/2)
	}
	u := got[0]
	if u.Labels[LabelHandler] != "/photo" || u.Labels[LabelUpdateID] != "77" ||
		!strings.HasSuffix(u.Site.File, "body_test.go") || !strings.Contains(u.Site.Func, "TestTrackerReportsDroppedBodies") {
		t.Errorf("report %+v", u)
	}
	if strings.Contains(u.URL, "SECRET") || !strings.Contains(u.URL, "/file/bot<token>/photo.jpg") {
		t.Errorf("url %q: token not redacted", u.URL)
	}
	if s := u.String(); !strings.Contains(s, "handler=/photo") || !strings.Contains(s, "body_test.go:") {
		t.Errorf("String() = %q", s)
	}
}

func TestTrackerBodyPassesThrough(t *testing.T) {
	tr := NewTracker()
	if b := tr.Body(context.Background(), http.NoBody); b != http.NoBody {
		t.Error("NoBody wrapped")
	}
	b := tr.Body(context.Background(), io.NopCloser(strings.NewReader("hello")))
	data, _ := io.ReadAll(b)
	if string(data) != "hello" || tr.Open() != 1 {
		t.Fatalf("read %q, open %d", data, tr.Open())
	}
	b.Close()
	b.Close() // twice is fine
	if tr.Open() != 0 || tr.Unclosed() != 0 {
		t.Errorf("open %d unclosed %d", tr.Open(), tr.Unclosed())
	}
	if !strings.Contains(tr.String(), "open 0") {
		t.Error(tr.String())
	}
}
