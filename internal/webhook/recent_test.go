package webhook

import (
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestRecentDedupe(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newRecent(time.Minute, 3)
	r.now = func() time.Time { return now }
	if _, fresh := r.take(1); !fresh {
		t.Fatal("first delivery not fresh")
	}
	if _, fresh := r.take(1); fresh {
		t.Fatal("redelivery within the window counted as fresh")
	}
	r.take(2)
	r.take(3)
	r.take(4) // over capacity: 1 is forgotten
	if n := r.len(); n != 3 {
		t.Fatalf("len = %d, want the capacity 3", n)
	}
	if _, fresh := r.take(1); !fresh {
		t.Fatal("id evicted by capacity still remembered")
	}
	now = now.Add(2 * time.Minute)
	if _, fresh := r.take(3); !fresh {
		t.Fatal("id older than the window still remembered")
	}
	if n := r.len(); n != 1 {
		t.Fatalf("expired ids kept: len = %d, want 1", n)
	}
	e, _ := r.take(50)
	r.forget(50, e)
	if _, fresh := r.take(50); !fresh {
		t.Fatal("forgotten id still remembered")
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A redelivery of an update still in flight waits until its handler ends;
// one after the end is answered at once.
func TestRecentEnded(t *testing.T) {
	r := newRecent(time.Minute, 10)
	e, _ := r.take(7)
	waiting := r.ended(e)
	select {
	case <-waiting:
		t.Fatal("ended before the handler finished")
	default:
	}
	if again, fresh := r.take(7); fresh || again != e || r.ended(again) != waiting {
		t.Fatal("a second redelivery got another entry or channel")
	}
	r.finish(e)
	<-waiting // closed by finish
	late, _ := r.take(8)
	r.finish(late) // nobody waited: no channel made
	if late.wait != nil {
		t.Error("a channel made for an entry nobody waited for")
	}
	<-r.ended(late) // made closed
}

// BenchmarkRecentMemory reports the heap a full memory of remembered ids
// holds, per id.
func BenchmarkRecentMemory(b *testing.B) {
	const n = 100_000
	var before, after runtime.MemStats
	for range b.N {
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := newRecent(time.Hour, n)
		for id := range int64(n) {
			e, _ := r.take(id)
			r.finish(e)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/id")
		runtime.KeepAlive(r)
	}
}
