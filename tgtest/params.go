package tgtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// maxFieldSize bounds one non-file multipart field.
const maxFieldSize = 1 << 20

// request is one Bot API call being served: its parameters normalised to
// a JSON object (whatever the encoding they came in) and the files uploaded
// with it.
type request struct {
	s      *Server
	r      *http.Request // nil for calls answered in a webhook response
	method methodID
	body   []byte                 // JSON object of the parameters, or empty
	buf    *bytes.Buffer          // owns body when it was read or built here
	files  map[string]*storedFile // uploaded parts by part name
	used   map[*storedFile]bool   // uploads referenced by the call
}

var requestPool = sync.Pool{New: func() any { return new(request) }}

func getRequest(s *Server, r *http.Request, m methodID) *request {
	rq := requestPool.Get().(*request)
	rq.s, rq.r, rq.method = s, r, m
	return rq
}

func putRequest(rq *request) {
	if rq.buf != nil {
		putBuf(rq.buf)
	}
	*rq = request{}
	requestPool.Put(rq)
}

// parse reads the parameters: a JSON body, a form-urlencoded body, a
// multipart body (files are streamed to disk) or the URL query.
func (rq *request) parse(w http.ResponseWriter) error {
	r := rq.r
	switch mediaType(r.Header.Get("Content-Type")) {
	case "multipart/form-data":
		if emptyBody(r) {
			break // an empty form: no parameters (go-telegram/bot sends getMe so, even chunked)
		}
		r.Body = http.MaxBytesReader(w, r.Body, rq.s.cfg.uploadLimit*11+rq.s.cfg.maxBody)
		return rq.parseMultipart()
	case "application/x-www-form-urlencoded":
		b, err := rq.readBody(w)
		if err != nil {
			return err
		}
		vals, err := url.ParseQuery(string(b))
		if err != nil {
			return badRequest("can't parse form: " + err.Error())
		}
		rq.buf.Reset()
		rq.body = formJSON(rq.buf, vals)
		return nil
	}
	if r.ContentLength != 0 && r.Method != http.MethodGet && mediaType(r.Header.Get("Content-Type")) != "multipart/form-data" {
		b, err := rq.readBody(w)
		if err != nil {
			return err
		}
		b = bytes.TrimSpace(b)
		if len(b) > 0 && string(b) != "null" {
			if b[0] != '{' {
				return badRequest("can't parse JSON object")
			}
			rq.body = b
			return nil
		}
	}
	if r.URL.RawQuery != "" {
		rq.buf = getBuf()
		rq.body = formJSON(rq.buf, r.URL.Query())
	}
	return nil
}

// emptyBody reports whether r's body is empty: a Content-Length of 0, or
// a body of unknown length (chunked) that ends before its first byte. In
// the latter case the byte read to find out is put back in front of
// r.Body.
func emptyBody(r *http.Request) bool {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return true
	}
	if r.ContentLength > 0 {
		return false
	}
	var first [1]byte
	n, err := io.ReadFull(r.Body, first[:])
	if n == 0 && err == io.EOF {
		return true
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(first[:n]), r.Body), r.Body}
	return false
}

func (rq *request) readBody(w http.ResponseWriter) ([]byte, error) {
	rq.buf = getBuf()
	body := http.MaxBytesReader(w, rq.r.Body, rq.s.cfg.maxBody)
	if _, err := rq.buf.ReadFrom(body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return nil, badRequest("can't read request body: " + err.Error())
	}
	return rq.buf.Bytes(), nil
}

func (rq *request) parseMultipart() error {
	mr, err := rq.r.MultipartReader()
	if err != nil {
		return badRequest("can't parse multipart body: " + err.Error())
	}
	vals := url.Values{}
	total := int64(0)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return multipartErr(err)
		}
		name := part.FormName()
		if name == "" {
			part.Close()
			continue
		}
		if part.FileName() != "" {
			f, err := rq.s.files.save(part, part.FileName(), part.Header.Get("Content-Type"), rq.s.cfg.uploadLimit)
			part.Close()
			if err != nil {
				return err
			}
			if rq.files == nil {
				rq.files = make(map[string]*storedFile)
			}
			if old := rq.files[name]; old != nil {
				rq.s.files.discard(old)
			}
			rq.files[name] = f
			continue
		}
		var b strings.Builder
		n, err := io.Copy(&b, io.LimitReader(part, maxFieldSize+1))
		part.Close()
		if err != nil {
			return multipartErr(err)
		}
		total += n
		if n > maxFieldSize || total > rq.s.cfg.maxBody {
			return errTooLarge
		}
		vals.Add(name, b.String())
	}
	rq.buf = getBuf()
	rq.body = formJSON(rq.buf, vals)
	return nil
}

func multipartErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge
	}
	return badRequest("can't parse multipart body: " + err.Error())
}

// formJSON turns form values into a JSON object. A value that is a JSON
// object, array, number or boolean is embedded as is (Telegram reads
// reply_markup, entities and chat_id that way); anything else becomes a
// JSON string. Of repeated keys the last wins.
func formJSON(buf *bytes.Buffer, vals url.Values) []byte {
	buf.WriteByte('{')
	first := true
	for k, vs := range vals {
		if len(vs) == 0 {
			continue
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		writeJSONString(buf, k)
		buf.WriteByte(':')
		v := vs[len(vs)-1]
		if t := strings.Trim(v, " \t\r\n"); isEmbeddableJSON(t) {
			buf.WriteString(t)
		} else {
			writeJSONString(buf, v)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	buf.Write(b)
}

func isEmbeddableJSON(t string) bool {
	if t == "" {
		return false
	}
	switch t[0] {
	case '{', '[':
		return json.Valid([]byte(t))
	case 't', 'f':
		return t == "true" || t == "false"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return json.Valid([]byte(t))
	}
	return false
}

// mediaType returns the lower-case media type of a Content-Type value
// without mime.ParseMediaType's allocations (it builds a params map).
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	for i := 0; i < len(ct); i++ {
		if c := ct[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(ct)
		}
	}
	return ct
}

// decode decodes the parameters into p, a pointer to a params struct.
func (rq *request) decode(p any) error {
	if len(rq.body) == 0 {
		return nil
	}
	var err error
	if fs, ok := p.(fieldSetter); ok {
		err = eachField(rq.body, fs.setField)
	} else {
		err = json.Unmarshal(rq.body, p)
	}
	if err != nil {
		if err == errBadJSON {
			return badRequest("can't parse JSON object")
		}
		var ae *apiError
		if errors.As(err, &ae) {
			return ae
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest("wrong type of parameter " + te.Field)
		}
		return badRequest("can't parse parameters: " + err.Error())
	}
	return nil
}

// inputFile resolves an InputFile parameter named field whose value is v:
// an "attach://<part>" reference, a file part named after field itself, or
// the file_id of a stored file.
func (rq *request) inputFile(field string, v string) (*storedFile, error) {
	if name, ok := strings.CutPrefix(v, "attach://"); ok {
		f := rq.files[name]
		if f == nil {
			return nil, badRequest("wrong remote file identifier specified: file " + name + " not found in the request")
		}
		rq.use(f)
		return f, nil
	}
	if v == "" {
		if f := rq.files[field]; f != nil {
			rq.use(f)
			return f, nil
		}
		return nil, badRequest("there is no " + field + " in the request")
	}
	if strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
		return nil, badRequest("failed to get HTTP URL content")
	}
	if f, ok, err := rq.localFile(v); ok {
		return f, err
	}
	f := rq.s.files.get(v)
	if f == nil {
		return nil, errBadFileID
	}
	return f, nil
}

func (rq *request) use(f *storedFile) {
	if rq.used == nil {
		rq.used = make(map[*storedFile]bool)
	}
	rq.used[f] = true
}

// finish keeps the uploads a successful call used and deletes the others.
// commitUsed makes the files the call used downloadable now, before the
// message that carries them is stored (waiters wake on the message and may
// fetch the file at once). Committing again in finish is harmless.
func (rq *request) commitUsed() {
	for _, f := range rq.files {
		if rq.used[f] {
			rq.s.files.commit(f)
		}
	}
}

func (rq *request) finish(ok bool) {
	for _, f := range rq.files {
		if ok && rq.used[f] {
			rq.s.files.commit(f)
		} else {
			rq.s.files.discard(f)
		}
	}
}
