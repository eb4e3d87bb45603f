package webhook

import (
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
