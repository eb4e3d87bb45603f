package tg

import (
	"errors"
	"io"
	"os"
	"path/filepath"

	json "github.com/go-json-experiment/json/v1"
)

// InputFile is the Bot API's "InputFile or String": a file to upload
// (FileReader, FilePath) or a reference to one Telegram already has or can
// fetch (FileID, FileURL).
//
// Uploads are streamed: a FileReader is read once, a FilePath is opened when
// the request is sent and closed on every path. An InputFile that uploads
// must not be used by two calls at the same time.
type InputFile struct {
	ref    string                        // file_id or URL
	name   string                        // file name sent in the multipart part
	reader io.Reader                     // upload from a reader
	open   func() (io.ReadCloser, error) // upload from a path
	attach string                        // multipart part name, set by the Client
}

// FileID refers to a file already on Telegram's servers.
func FileID(id string) *InputFile { return &InputFile{ref: id} }

// FileURL asks Telegram to fetch the file from an HTTP URL.
func FileURL(url string) *InputFile { return &InputFile{ref: url} }

// FileReader uploads the bytes of r under the file name name. r is read once,
// to its end, while the request is sent; if it is an io.Closer the caller
// still owns it. If r is also an io.Seeker (a file, a bytes.Reader), the
// Client may seek it back to where it stood when the call started and send
// the request again, when the server provably did not read it (see
// Client.Call); a reader that cannot seek is never read twice.
func FileReader(name string, r io.Reader) *InputFile {
	return &InputFile{name: name, reader: r}
}

// FilePath uploads the file at path. It is opened when the request is sent
// and closed when the upload ends, on every path. Only the base name is sent.
func FilePath(path string) *InputFile {
	return &InputFile{name: filepath.Base(path), open: func() (io.ReadCloser, error) { return os.Open(path) }}
}

// IsUpload reports whether f carries bytes to upload rather than a reference.
func (f *InputFile) IsUpload() bool { return f != nil && (f.reader != nil || f.open != nil) }

// Ref returns the file_id or URL of a reference, or "" for an upload.
func (f *InputFile) Ref() string {
	if f == nil {
		return ""
	}
	return f.ref
}

// Name returns the file name of an upload.
func (f *InputFile) Name() string {
	if f == nil {
		return ""
	}
	return f.name
}

// errUnattached is returned when an upload is encoded outside a Client call.
var errUnattached = errors.New("tg: InputFile upload encoded outside a Client call")

// MarshalJSON encodes a reference as its string and an upload as
// "attach://<part>", the multipart part the Client streams it in.
func (f *InputFile) MarshalJSON() ([]byte, error) {
	if f.IsUpload() {
		if f.attach == "" {
			return nil, errUnattached
		}
		return json.Marshal("attach://" + f.attach)
	}
	return json.Marshal(f.ref)
}

// UnmarshalJSON decodes a file_id, URL or attach:// string as a reference.
func (f *InputFile) UnmarshalJSON(data []byte) error {
	var s string
	if err := unmarshal(data, &s); err != nil {
		return err
	}
	*f = InputFile{ref: s}
	return nil
}
