package tgtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/wait"
)

// pollIDs calls getUpdates(offset, limit 100, timeout 0) and returns the
// update ids, decoding nothing else (the client side of a benchmark must
// stay cheap).
func pollIDs(c *http.Client, s *Server, offset int64) ([]int64, error) {
	body := []byte(`{"offset":` + strconv.FormatInt(offset, 10) + `,"limit":100}`)
	req, err := http.NewRequest(http.MethodPost, methodURL(s, "getUpdates"), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var env struct {
		OK     bool `json:"ok"`
		Result []struct {
			UpdateID int64 `json:"update_id"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return nil, err
	}
	if !env.OK {
		return nil, fmt.Errorf("getUpdates: not ok")
	}
	ids := make([]int64, len(env.Result))
	for i, r := range env.Result {
		ids[i] = r.UpdateID
	}
	return ids, nil
}

// BenchmarkEnqueue measures simulated users' messages enqueued per second.
func BenchmarkEnqueue(b *testing.B) {
	s := NewServer(WithMaxPending(1 << 30))
	defer s.Close()
	users := make([]*SimUser, 1000)
	for i := range users {
		users[i] = s.NewUser("bench")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := users[i%len(users)].Send("hello there"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}

// BenchmarkGetUpdates measures updates delivered per second through
// getUpdates: b.N updates are queued, then one client drains them in
// batches of 100, confirming each batch with the next offset.
func BenchmarkGetUpdates(b *testing.B) {
	s := NewServer(WithMaxPending(1 << 30))
	defer s.Close()
	users := make([]*SimUser, 1000)
	for i := range users {
		users[i] = s.NewUser("bench")
	}
	for i := 0; i < b.N; i++ {
		if _, err := users[i%len(users)].Send("hello there, this is a typical short message"); err != nil {
			b.Fatal(err)
		}
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	got, offset := 0, int64(0)
	for got < b.N {
		ids, err := pollIDs(c, s, offset)
		if err != nil {
			b.Fatal(err)
		}
		got += len(ids)
		offset = ids[len(ids)-1] + 1
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}

// BenchmarkGetUpdatesLive is BenchmarkGetUpdates with the updates produced
// while the client long-polls.
func BenchmarkGetUpdatesLive(b *testing.B) {
	s := NewServer(WithMaxPending(1 << 30))
	defer s.Close()
	u := s.NewUser("bench")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < b.N; i++ {
			if _, err := u.Send("hello there, this is a typical short message"); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	got, offset := 0, int64(0)
	for got < b.N {
		ids, err := pollIDs(c, s, offset)
		if err != nil {
			b.Fatal(err)
		}
		if len(ids) > 0 {
			got += len(ids)
			offset = ids[len(ids)-1] + 1
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}

// BenchmarkSendMessage measures sendMessage calls answered per second by
// several goroutines sharing one keep-alive client.
func BenchmarkSendMessage(b *testing.B) {
	s := NewServer()
	defer s.Close()
	chats := make([]int64, 1000)
	for i := range chats {
		chats[i] = s.NewUser("bench").ChatID()
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := `{"chat_id":` + strconv.FormatInt(chats[i%int64(len(chats))], 10) + `,"text":"reply number ` + strconv.FormatInt(i, 10) +
				`","reply_markup":{"inline_keyboard":[[{"text":"ok","callback_data":"ok"}]]}}`
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, methodURL(s, "sendMessage"), bytes.NewReader([]byte(body)))
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkWebhook measures updates delivered per second to a webhook
// (max_connections 40, 100 chats, receiver answering 200 at once).
func BenchmarkWebhook(b *testing.B) {
	s := NewServer(WithMaxPending(1 << 30))
	defer s.Close()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer recv.Close()
	users := make([]*SimUser, 100)
	for i := range users {
		users[i] = s.NewUser("bench")
	}
	for i := 0; i < b.N; i++ {
		if _, err := users[i%len(users)].Send("hello there, this is a typical short message"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	rq := getRequest(s, nil, mSetWebhook)
	rq.body = []byte(`{"url":"` + recv.URL + `"}`)
	_, err := s.setWebhook(rq)
	putRequest(rq)
	if err != nil {
		b.Fatal(err)
	}
	wait.Until(b, time.Minute, "every update delivered to the webhook", func() bool { return s.Pending() == 0 })
	b.StopTimer()
	s.stopWebhook()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}
