package tgtest

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
)

func tinyPNG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{R: 255, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type part struct {
	name, filename string
	data           []byte
}

// callMultipart posts fields and file parts as multipart/form-data,
// streaming the body through a pipe like tidygram's client.
func callMultipart(t testing.TB, s *Server, method string, fields map[string]string, parts ...part) envelope {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for k, v := range fields {
			mw.WriteField(k, v)
		}
		for _, p := range parts {
			w, err := mw.CreateFormFile(p.name, p.filename)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := w.Write(p.data); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	req, _ := http.NewRequest(http.MethodPost, methodURL(s, method), pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := testClient(t).Do(req)
	pr.Close()
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	env.status = resp.StatusCode
	return env
}

func download(t testing.TB, s *Server, filePath string) (int, []byte) {
	t.Helper()
	resp, err := testClient(t).Get(s.URL() + "/file/bot" + s.Token() + "/" + filePath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestUploadResendDownload(t *testing.T) {
	s := newTestServer(t)
	u := s.NewUser("sam")
	chat := itoa64(u.ChatID())
	doc := []byte(strings.Repeat("tidygram ", 1000))
	cases := []struct {
		name   string
		fields map[string]string
		parts  []part
	}{
		{"attach reference", map[string]string{"chat_id": chat, "document": "attach://f1", "caption": "by attach"}, []part{{"f1", "notes.txt", doc}}},
		{"part named after field", map[string]string{"chat_id": chat, "reply_markup": `{"inline_keyboard":[[{"text":"ok","callback_data":"ok"}]]}`}, []part{{"document", "notes.txt", doc}}},
	}
	var fileID string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := decodeResult[Message](t, callMultipart(t, s, "sendDocument", tc.fields, tc.parts...))
			if m.Document == nil || m.Document.FileName != "notes.txt" || m.Document.FileSize != int64(len(doc)) {
				t.Fatalf("sent %+v", m)
			}
			fileID = m.Document.FileID
		})
	}
	// The file_id can be sent again, as a plain JSON call.
	again := decodeResult[Message](t, call(t, s, "sendDocument", map[string]any{"chat_id": u.ChatID(), "document": fileID}))
	if again.Document.FileID != fileID {
		t.Fatalf("resend %+v", again.Document)
	}
	f := decodeResult[File](t, call(t, s, "getFile", map[string]any{"file_id": fileID}))
	status, body := download(t, s, f.FilePath)
	if status != 200 || !bytes.Equal(body, doc) || f.FileSize != int64(len(doc)) {
		t.Fatalf("download %d, %d bytes", status, len(body))
	}
	if got, _ := s.FileContent(fileID); !bytes.Equal(got, doc) {
		t.Fatal("FileContent differs")
	}
	wantError(t, call(t, s, "getFile", map[string]any{"file_id": "nope"}), 400, "Bad Request: invalid file_id")
	wantError(t, call(t, s, "sendDocument", map[string]any{"chat_id": u.ChatID(), "document": "nope"}), 400, "Bad Request: wrong file identifier")
	wantError(t, callMultipart(t, s, "sendDocument", map[string]string{"chat_id": chat, "document": "attach://missing"}), 400, "Bad Request: wrong remote file identifier")
	if code, _ := download(t, s, "documents/none"); code != 404 {
		t.Fatalf("unknown file path: %d", code)
	}
}

func TestPhotosAndMediaGroup(t *testing.T) {
	s := newTestServer(t)
	u := s.NewUser("tina")
	chat := itoa64(u.ChatID())
	m := decodeResult[Message](t, callMultipart(t, s, "sendPhoto", map[string]string{"chat_id": chat, "caption": "pic"}, part{"photo", "a.png", tinyPNG(t, 3, 2)}))
	if len(m.Photo) != 1 || m.Photo[0].Width != 3 || m.Photo[0].Height != 2 || m.Caption != "pic" {
		t.Fatalf("photo %+v", m)
	}
	wantError(t, callMultipart(t, s, "sendPhoto", map[string]string{"chat_id": chat}, part{"photo", "a.png", []byte("not an image")}), 400, "Bad Request: IMAGE_PROCESS_FAILED")
	media := `[{"type":"photo","media":"attach://p1","caption":"one"},{"type":"photo","media":"` + m.Photo[0].FileID + `"},{"type":"document","media":"attach://d1"}]`
	env := callMultipart(t, s, "sendMediaGroup", map[string]string{"chat_id": chat, "media": media},
		part{"p1", "b.png", tinyPNG(t, 5, 5)}, part{"d1", "d.bin", []byte{1, 2, 3}})
	msgs := decodeResult[[]Message](t, env)
	if len(msgs) != 3 || msgs[0].MediaGroupID == "" || msgs[0].MediaGroupID != msgs[2].MediaGroupID || msgs[0].Caption != "one" ||
		msgs[1].Photo[0].FileID != m.Photo[0].FileID || msgs[2].Document == nil || msgs[2].MessageID != msgs[0].MessageID+2 {
		t.Fatalf("album %+v", msgs)
	}
	wantError(t, call(t, s, "sendMediaGroup", map[string]any{"chat_id": u.ChatID(), "media": []any{}}), 400, "Bad Request: wrong number of media")
}

func TestUploadSizeCap(t *testing.T) {
	s := newTestServer(t, WithUploadLimit(64<<10))
	u := s.NewUser("uma")
	chat := itoa64(u.ChatID())
	mustOK(t, callMultipart(t, s, "sendDocument", map[string]string{"chat_id": chat}, part{"document", "ok.bin", make([]byte, 64<<10)}))
	// One byte over: 413, and nothing is left on disk.
	env := callMultipart(t, s, "sendDocument", map[string]string{"chat_id": chat}, part{"document", "big.bin", make([]byte, 64<<10+1)})
	wantError(t, env, 413, "Request Entity Too Large")
	// A much larger body is refused without being read whole: the server
	// answers and closes, the client sees either the 413 or a write error.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mw.WriteField("chat_id", chat)
		w, _ := mw.CreateFormFile("document", "huge.bin")
		chunk := make([]byte, 32<<10)
		for i := 0; i < 2048; i++ { // 64 MiB offered
			if _, err := w.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	req, _ := http.NewRequest(http.MethodPost, methodURL(s, "sendDocument"), pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	before := s.Counters().BytesIn
	resp, err := testClient(t).Do(req)
	pr.CloseWithError(io.ErrClosedPipe)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if read := s.Counters().BytesIn - before; read > 16<<20 {
		t.Fatalf("server read %d bytes of a refused 64 MiB upload", read)
	}
	entries, err := os.ReadDir(s.files.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d files on disk, want only the accepted one", len(entries))
	}
	// getFile refuses files above the download limit.
	s2 := newTestServer(t, WithDownloadLimit(10))
	u2 := s2.NewUser("vic")
	m, err := u2.SendDocument("a.bin", make([]byte, 11))
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, call(t, s2, "getFile", map[string]any{"file_id": m.Document.FileID}), 400, "Bad Request: file is too big")
}
