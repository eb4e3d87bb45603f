package tg

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram/tgtest"
)

// TestStaleKeepAliveLosesNothing: the emulator closes keep-alive
// connections idle for 3 ms, so the client keeps sending requests on
// connections the server is closing or has just closed: the server's end
// of stream or reset before any answer byte. Thousands of sendMessage calls
// from concurrent workers, paced so that connections often sit idle about
// that long, must all succeed, each message stored exactly once (counted
// per chat at the emulator). Every tenth call is an upload, which the
// client sends again only if its reader can seek back or its streamed body
// was not started: one whose reader seeks must succeed; one whose reader
// cannot may fail, but then with NotSent() true; exactly the uploads that
// succeeded are stored. The test checks that the race happened: the
// emulator closed idle connections, and the client met closed ones and
// recovered.
func TestStaleKeepAliveLosesNothing(t *testing.T) {
	const (
		idle    = 3 * time.Millisecond
		workers = 8
		calls   = 3000
		chats   = 40
	)
	srv := tgtest.NewServer(tgtest.WithTB(t), tgtest.WithIdleTimeout(idle))
	c, err := NewClient(srv.Token(), WithBaseURL(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	chatIDs := make([]int64, chats)
	for i := range chatIDs {
		chatIDs[i] = srv.NewUser("u" + strconv.Itoa(i)).ChatID()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	uploadChat := srv.NewUser("uploader").ChatID()
	var (
		next             atomic.Int64
		failed           atomic.Int64
		uploaded, unsent atomic.Int64
		sent             [chats]atomic.Int64
		first            sync.Once
		wg               sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				i := next.Add(1) - 1
				if i >= calls || ctx.Err() != nil {
					return
				}
				if i%10 == 9 { // an upload: streamed, so sent again only if it can be rewound or its body was not started
					var r io.Reader = strings.NewReader(strconv.FormatInt(i, 10)) // an io.Seeker
					seeks := i%20 != 19
					if !seeks {
						r = struct{ io.Reader }{r} // cannot seek
					}
					_, err := c.SendDocument(ctx, &SendDocumentParams{ChatID: ID(uploadChat), Document: FileReader("f.txt", r)})
					var ne *NetworkError
					switch {
					case err == nil:
						uploaded.Add(1)
					case !seeks && errors.As(err, &ne) && ne.NotSent():
						unsent.Add(1) // the server never read it: not stored
					default:
						failed.Add(1)
						first.Do(func() { t.Errorf("upload %d: %v", i, err) })
					}
				} else {
					_, err := c.SendMessage(ctx, &SendMessageParams{ChatID: ID(chatIDs[i%chats]), Text: strconv.FormatInt(i, 10)})
					if err != nil {
						failed.Add(1)
						first.Do(func() { t.Errorf("call %d: %v", i, err) })
					}
					sent[i%chats].Add(1)
				}
				// Pacing only: idle gaps around the server's idle timeout.
				time.Sleep(time.Duration(rng.Int64N(int64(2 * idle))))
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("calls did not finish in time: %d of %d made", next.Load(), calls)
	}
	counters := srv.Counters()
	var stored int64
	for i, id := range chatIDs {
		want := sent[i].Load()
		if got := counters.MessagesPerChat[id]; got != want {
			t.Errorf("chat %d: %d messages stored, want %d (lost or duplicated)", id, got, want)
		}
		stored += counters.MessagesPerChat[id]
	}
	if got := counters.MessagesPerChat[uploadChat]; got != uploaded.Load() {
		t.Errorf("%d uploads stored, %d succeeded (%d not sent)", got, uploaded.Load(), unsent.Load())
	}
	st := c.StaleConns()
	t.Logf("%d calls, %d failed, %d messages stored, %d uploads stored, %d uploads not sent (NotSent); emulator: %d connections accepted, %d closed idle; client: %+v",
		calls, failed.Load(), stored, uploaded.Load(), unsent.Load(), counters.ConnsAccepted, counters.IdleConnsClosed, st)
	if failed.Load() > 0 {
		t.Fatalf("%d calls failed", failed.Load())
	}
	if counters.IdleConnsClosed < 100 {
		t.Fatalf("the emulator closed only %d idle connections: the race was not exercised", counters.IdleConnsClosed)
	}
	if st.Refused+st.Retried == 0 {
		t.Fatalf("the client never met a connection the server had closed (%+v): the race was not exercised", st)
	}
}

// TestReadRequestNotResent: a server that reads a request to its end and
// closes the connection without answering may have acted on it: the call
// fails with NotSent false and is not sent again, on a reused connection
// as on a new one.
func TestReadRequestNotResent(t *testing.T) {
	var performed atomic.Int64
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, method string) {
		if method == "getMe" {
			writeAnswer(w, 200, `{"ok":true,"result":{"id":1,"is_bot":true,"first_name":"b"}}`)
			return
		}
		io.Copy(io.Discard, r.Body)
		performed.Add(1)
		hijackWrite(w, "") // the connection closes, no answer
	})
	c := f.client(t)
	ctx := context.Background()
	for _, reused := range []bool{true, false} {
		if reused {
			if _, err := c.GetMe(ctx); err != nil {
				t.Fatal(err)
			}
		}
		before := performed.Load()
		_, err := c.SendMessage(ctx, &SendMessageParams{ChatID: ID(1), Text: "x"})
		var ne *NetworkError
		if !errors.As(err, &ne) || ne.NotSent() {
			t.Fatalf("reused=%v: got %T %v, want a *NetworkError with NotSent false", reused, err, err)
		}
		if n := performed.Load() - before; n != 1 {
			t.Fatalf("reused=%v: the server got the request %d times, want once", reused, n)
		}
	}
	if st := c.StaleConns(); st.Retried != 0 {
		t.Fatalf("%+v: a call was sent again", st)
	}
}
