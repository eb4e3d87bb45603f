// Command leakybot is a deliberately leaky echo bot for the soak test:
// a raw net/http loop that long-polls getUpdates and answers every text
// with sendMessage, and never reads or closes the sendMessage response
// bodies. Each reply therefore pins a keep-alive connection forever: its
// file descriptor, its two transport goroutines and its buffers. It reads
// TELEGRAM_API_URL and TELEGRAM_TOKEN and exits 0 on SIGINT or SIGTERM.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type update struct {
	UpdateID int64 `json:"update_id"`
	Message  *struct {
		Chat struct {
			ID int64 `json:"id"`
		} `json:"chat"`
		Text string `json:"text"`
	} `json:"message"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	api := os.Getenv("TELEGRAM_API_URL") + "/bot" + os.Getenv("TELEGRAM_TOKEN")
	var offset int64
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/getUpdates?offset=%d&timeout=5", api, offset), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var r struct {
			Result []update `json:"result"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close() // the poll is closed properly…
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for _, u := range r.Result {
			offset = u.UpdateID + 1
			if u.Message == nil || u.Message.Text == "" {
				continue
			}
			body, _ := json.Marshal(map[string]any{"chat_id": u.Message.Chat.ID, "text": "echo: " + u.Message.Text})
			resp, err := http.Post(api+"/sendMessage", "application/json", bytes.NewReader(body))
			if err != nil {
				continue
			}
			_ = resp // …the replies are not: the leak.
		}
	}
}
