package tg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"strconv"
	"sync/atomic"

	json "github.com/go-json-experiment/json/v1"
)

// copyBufSize is the one buffer an upload copies through, whatever its size.
const copyBufSize = 64 << 10

// errUploadStopped ends an upload's writer when the call is over before the
// body was sent to its end (an early answer, a broken connection, ctx).
var errUploadStopped = errors.New("tg: upload stopped: the call ended")

// upload streams a multipart/form-data request body through an io.Pipe: a
// writer goroutine produces the form, the transport reads pr. It is owned by
// the call that started it; stop ends it and waits for it.
type upload struct {
	pr          *io.PipeReader
	contentType string
	files       []*InputFile // distinct uploads, in part order
	done        chan struct{}
	srcErr      error       // set before done closes: an upload source failed to open or read
	started     atomic.Bool // the transport read from the body
}

// body returns the request body: the pipe's reader, noting the first read.
func (u *upload) body() io.ReadCloser { return uploadBody{u} }

type uploadBody struct{ u *upload }

func (b uploadBody) Read(p []byte) (int, error) {
	b.u.started.Store(true)
	return b.u.pr.Read(p)
}

func (b uploadBody) Close() error { return b.u.pr.Close() }

// formField is one top-level params key and its form value.
type formField struct{ name, value string }

// startUpload names every upload's part ("file0", "file1", …; an InputFile
// that appears twice is sent once), encodes params once into form fields and
// starts the writer goroutine. The caller must call stop.
func startUpload(params any, files []*InputFile) (*upload, error) {
	files = attachParts(files)
	fields, err := formFields(params)
	if err != nil {
		detach(files)
		return nil, err
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	u := &upload{pr: pr, contentType: mw.FormDataContentType(), files: files, done: make(chan struct{})}
	go u.write(pw, mw, fields)
	return u, nil
}

// attachParts assigns part names and returns the distinct uploads.
func attachParts(files []*InputFile) []*InputFile {
	detach(files)
	distinct := files[:0]
	for _, f := range files {
		if f.attach == "" {
			f.attach = "file" + strconv.Itoa(len(distinct))
			distinct = append(distinct, f)
		}
	}
	return distinct
}

func detach(files []*InputFile) {
	for _, f := range files {
		f.attach = ""
	}
}

// formFields encodes params with encoding/json and splits the object into
// its top-level keys: a string value becomes the plain form value, any other
// value its JSON text; null is left out.
func formFields(params any) ([]formField, error) {
	b, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("encoding params: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("encoding params: %T does not encode as a JSON object", params)
	}
	var fields []formField
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("encoding params: %w", err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("encoding params: %w", err)
		}
		f := formField{name: tok.(string), value: string(raw)}
		switch raw[0] {
		case 'n':
			continue
		case '"':
			if err := unmarshal(raw, &f.value); err != nil {
				return nil, fmt.Errorf("encoding params: %w", err)
			}
		}
		fields = append(fields, f)
	}
	return fields, nil
}

// write produces the form into pw and closes pw with the outcome. It ends
// when the form is written or a write fails because stop (or the transport)
// closed the pipe's reader; every file it opens is closed before it returns.
func (u *upload) write(pw *io.PipeWriter, mw *multipart.Writer, fields []formField) {
	defer close(u.done)
	err := u.writeForm(mw, fields)
	if err == nil {
		err = mw.Close()
	}
	var se *sourceError
	if errors.As(err, &se) {
		u.srcErr = se
	}
	pw.CloseWithError(err) // nil: the reader sees EOF
}

func (u *upload) writeForm(mw *multipart.Writer, fields []formField) error {
	for _, f := range fields {
		if err := mw.WriteField(f.name, f.value); err != nil {
			return err
		}
	}
	buf := make([]byte, copyBufSize)
	for _, f := range u.files {
		if err := writeFile(mw, f, buf); err != nil {
			return err
		}
	}
	return nil
}

// writeFile streams one upload into its part, opening and closing a path.
func writeFile(mw *multipart.Writer, f *InputFile, buf []byte) error {
	name := f.name
	if name == "" {
		name = f.attach
	}
	part, err := mw.CreateFormFile(f.attach, name)
	if err != nil {
		return err
	}
	r := f.reader
	if f.open != nil {
		rc, err := f.open()
		if err != nil {
			return &sourceError{name: name, err: err}
		}
		defer rc.Close()
		r = rc
	}
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := part.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return &sourceError{name: name, err: rerr}
		}
	}
}

// stop ends the upload: it closes the pipe's reader (a writer blocked on it
// returns), waits for the writer goroutine and returns the source's error,
// if one failed. It may be called more than once.
func (u *upload) stop() error {
	u.pr.CloseWithError(errUploadStopped)
	<-u.done
	detach(u.files)
	return u.srcErr
}

// sourceError reports an upload whose file or reader failed.
type sourceError struct {
	name string
	err  error
}

func (e *sourceError) Error() string { return "upload " + strconv.Quote(e.name) + ": " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// rewinder puts the readers of an upload back where they were when the
// call started, so that its body can be produced again byte for byte.
type rewinder struct {
	seekers []io.Seeker
	offsets []int64
}

// newRewinder records where each reader of files stands. It returns nil
// when a reader is not an io.Seeker (or cannot tell its offset): that
// upload cannot be sent again once its body was started. Uploads from a
// path are opened anew and need no rewinding.
func newRewinder(files []*InputFile) *rewinder {
	rw := &rewinder{}
	for _, f := range files {
		if f.reader == nil {
			continue
		}
		s, ok := f.reader.(io.Seeker)
		if !ok {
			return nil
		}
		off, err := s.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil
		}
		rw.seekers = append(rw.seekers, s)
		rw.offsets = append(rw.offsets, off)
	}
	return rw
}

// rewind seeks every reader back to its recorded offset.
func (rw *rewinder) rewind() error {
	for i, s := range rw.seekers {
		if _, err := s.Seek(rw.offsets[i], io.SeekStart); err != nil {
			return err
		}
	}
	return nil
}
