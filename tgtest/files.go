package tgtest

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif"  // photo sizes of GIF uploads
	_ "image/jpeg" // photo sizes of JPEG uploads
	_ "image/png"  // photo sizes of PNG uploads
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// storedFile is a file held on disk in the server's temporary directory.
type storedFile struct {
	id, uniq string
	local    string // path on disk
	path     string // file_path for downloads
	name     string
	mime     string
	size     int64
	width    int
	height   int
	imageErr error // why the content is not an image, if it is not
}

// fileStore owns the temporary directory and the files in it.
type fileStore struct {
	dir    string
	mu     sync.Mutex
	byID   map[string]*storedFile
	byPath map[string]*storedFile
	next   int64
}

func (fs *fileStore) init(dir string) {
	fs.dir = dir
	fs.byID = make(map[string]*storedFile)
	fs.byPath = make(map[string]*storedFile)
}

func (fs *fileStore) nextN() int64 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.next++
	return fs.next
}

// save streams r to disk, reading at most limit+1 bytes; a larger content
// fails with errTooLarge and leaves nothing behind.
func (fs *fileStore) save(r io.Reader, name, mime string, limit int64) (*storedFile, error) {
	n := fs.nextN()
	f, err := os.CreateTemp(fs.dir, "up-")
	if err != nil {
		return nil, &apiError{Code: 500, Desc: "Internal Server Error: " + err.Error()}
	}
	size, err := io.Copy(f, io.LimitReader(r, limit+1))
	cerr := f.Close()
	if err == nil {
		err = cerr
	}
	if err == nil && size > limit {
		err = errTooLarge
	}
	if err != nil {
		os.Remove(f.Name())
		if err == errTooLarge {
			return nil, errTooLarge
		}
		return nil, multipartErr(err)
	}
	sf := &storedFile{
		id:    "BQACAgIAAxk-" + strconv.FormatInt(n, 36),
		uniq:  "AgADtg" + strconv.FormatInt(n, 36),
		local: f.Name(),
		name:  path.Base(strings.ReplaceAll(name, `\`, "/")),
		mime:  mime,
		size:  size,
	}
	if sf.name == "." || sf.name == "/" {
		sf.name = "file"
	}
	sf.path = "documents/file_" + strconv.FormatInt(n, 10) + strings.ToLower(filepath.Ext(sf.name))
	fs.sniffImage(sf)
	return sf, nil
}

func (fs *fileStore) sniffImage(sf *storedFile) {
	f, err := os.Open(sf.local)
	if err != nil {
		sf.imageErr = err
		return
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		sf.imageErr = err
		return
	}
	sf.width, sf.height = cfg.Width, cfg.Height
}

// saveBytes stores data as an already committed file.
func (fs *fileStore) saveBytes(data []byte, name, mime string) (*storedFile, error) {
	f, err := fs.save(bytes.NewReader(data), name, mime, int64(len(data)))
	if err != nil {
		return nil, err
	}
	fs.commit(f)
	return f, nil
}

// commit makes an upload addressable by file_id and file_path.
func (fs *fileStore) commit(f *storedFile) {
	fs.mu.Lock()
	fs.byID[f.id] = f
	fs.byPath[f.path] = f
	fs.mu.Unlock()
}

func (fs *fileStore) discard(f *storedFile) { os.Remove(f.local) }

func (fs *fileStore) get(id string) *storedFile {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.byID[id]
}

func (fs *fileStore) reset() {
	fs.mu.Lock()
	old := fs.byID
	fs.byID = make(map[string]*storedFile)
	fs.byPath = make(map[string]*storedFile)
	fs.mu.Unlock()
	for _, f := range old {
		os.Remove(f.local)
	}
}

func (fs *fileStore) removeAll() {
	fs.mu.Lock()
	fs.byID, fs.byPath = nil, nil
	fs.mu.Unlock()
	os.RemoveAll(fs.dir)
}

func (f *storedFile) photo() []PhotoSize {
	return []PhotoSize{{FileID: f.id, FileUniqueID: f.uniq, Width: f.width, Height: f.height, FileSize: f.size}}
}

func (f *storedFile) document() *Document {
	return &Document{FileID: f.id, FileUniqueID: f.uniq, FileName: f.name, MimeType: f.mime, FileSize: f.size}
}

func (s *Server) getFile(rq *request) (any, error) {
	var p struct {
		FileID strParam `json:"file_id"`
	}
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	f := s.files.get(string(p.FileID))
	if f == nil {
		return nil, errInvalidFileID
	}
	if f.size > s.cfg.downloadLimit {
		return nil, errFileTooBig
	}
	fp := f.path
	if s.cfg.local {
		fp = f.local // absolute, as a --local server answers
	}
	return File{FileID: f.id, FileUniqueID: f.uniq, FileSize: f.size, FilePath: fp}, nil
}

// serveFile serves GET /file/bot<token>/<file_path>, streaming from disk.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, rest string) {
	token, fp, ok := strings.Cut(rest, "/")
	if !ok || token != s.token {
		writeError(w, errUnauthorized)
		return
	}
	s.files.mu.Lock()
	f := s.files.byPath[fp]
	s.files.mu.Unlock()
	if f == nil || f.size > s.cfg.downloadLimit {
		writeError(w, errNotFound)
		return
	}
	fh, err := os.Open(f.local)
	if err != nil {
		writeError(w, errNotFound)
		return
	}
	defer fh.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(f.size, 10))
	io.Copy(w, fh)
}

// FileContent returns the content of a stored file (uploaded by the bot or
// sent by a simulated user), read whole: use it for small test files.
func (s *Server) FileContent(fileID string) ([]byte, error) {
	f := s.files.get(fileID)
	if f == nil {
		return nil, fmt.Errorf("tgtest: no file %q", fileID)
	}
	b, err := os.ReadFile(f.local)
	if err != nil {
		return nil, fmt.Errorf("tgtest: file %q: %w", fileID, err)
	}
	return b, nil
}
