package tg

import (
	"os"
	"path/filepath"
	"testing"

	json "github.com/go-json-experiment/json/v1"
)

// Benchmarks of the generated types, decoded as tg decodes them:
//
//	go test -run '^$' -bench . -benchmem ./tg
func benchDecode(b *testing.B, path string) {
	data, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		b.Fatal(err)
	}
	var u Update
	if err := unmarshal(data, &u); err != nil || u.Kind() == "" {
		b.Fatalf("sample does not decode to an update (%v)", err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var u Update
		if err := unmarshal(data, &u); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeTextMessage decodes a captured private text message.
func BenchmarkDecodeTextMessage(b *testing.B) { benchDecode(b, "updates/010_message_text.json") }

// BenchmarkDecodePhotoEntitiesReply decodes a photo message with caption
// entities that replies to a message with entities and a link preview.
func BenchmarkDecodePhotoEntitiesReply(b *testing.B) {
	benchDecode(b, "bench/photo_entities_reply.json")
}

// BenchmarkDecodeCallbackQuery decodes a callback query whose message
// carries an inline keyboard (through the MaybeInaccessibleMessage union).
func BenchmarkDecodeCallbackQuery(b *testing.B) { benchDecode(b, "updates/113_callback_query.json") }

// BenchmarkEncodeSendMessageParams encodes a reply with entities, reply
// parameters and an inline keyboard.
func BenchmarkEncodeSendMessageParams(b *testing.B) {
	p := &SendMessageParams{
		ChatID:          ID(-1001234567890),
		MessageThreadID: 42,
		Text:            "Hello, *world*! Pick one:",
		Entities:        []MessageEntity{{Type: "bold", Offset: 7, Length: 7}},
		ReplyParameters: &ReplyParameters{MessageID: 1374510, AllowSendingWithoutReply: true},
		ReplyMarkup: &InlineKeyboardMarkup{InlineKeyboard: [][]InlineKeyboardButton{
			{{Text: "Yes", CallbackData: "vote:yes"}, {Text: "No", CallbackData: "vote:no"}},
			{{Text: "Docs", URL: "https://core.telegram.org/bots/api"}},
		}},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeTextReply encodes the params of a plain text reply, the
// call a bot makes most (the S1 runs of benchmarks/ make one per update).
func BenchmarkEncodeTextReply(b *testing.B) {
	p := &SendMessageParams{ChatID: ID(1000123), Text: "hello 12345"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(p); err != nil {
			b.Fatal(err)
		}
	}
}
