package boltstore

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math/bits"

	berrors "go.etcd.io/bbolt/errors"
)

// The bbolt file format (go.etcd.io/bbolt, version 2), as far as checkBolt
// reads it. Integers are in the machine's byte order, as bbolt writes them.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltPageHeader   = 16 // id u64, flags u16, count u16, overflow u32
	boltElement      = 16 // a branch or leaf element's header
	boltInBucket     = 16 // a bucket value: root page u64, sequence u64
	boltMetaSum      = 56 // the meta bytes the checksum covers
	boltMetaLen      = boltMetaSum + 8
	boltBranch       = 0x01
	boltLeaf         = 0x02
	boltFreelist     = 0x10
	boltBucketLeaf   = 0x01 // a leaf element that holds a bucket
	boltNoFreelist   = ^uint64(0)
	boltMinPageSize  = 1 << 10
	boltMaxPageSize  = 1 << 24
	boltMaxTreeDepth = 64 // branch levels; bbolt trees of any real size have a handful
	boltMaxNesting   = 64 // buckets within buckets
)

var ne = binary.NativeEndian

// boltMeta is a decoded meta page.
type boltMeta struct {
	pageSize uint32
	root     uint64 // the root bucket's page
	freelist uint64
	hwm      uint64 // pages in use: ids below it
	txid     uint64
}

// corruption describes what checkBolt found wrong, and where.
type corruption struct {
	page   int64 // -1: not one page
	reason string
	err    error // a bbolt error it corresponds to, if any
}

func (c *corruption) Error() string { return c.reason }
func (c *corruption) Unwrap() error { return c.err }

func corrupt(page int64, format string, args ...any) *corruption {
	return &corruption{page: page, reason: fmt.Sprintf(format, args...)}
}

// checkBolt reads a bbolt file of size bytes through r and reports the
// first thing that would make bbolt read outside the file or panic: a size
// that is not a whole number of pages (at least 4); no meta page with
// bbolt's magic, version and checksum; a meta page whose page ids fall
// outside the file; a freelist page that is not one or lists ids outside
// the file or twice; a tree page (of any bucket, nested ones included)
// that is out of range, referenced twice, also free, of the wrong type, a
// branch with fewer than 2 elements, or whose elements point outside it
// or have an empty key; an inline bucket that does not fit its value. It reads every page in use once, with ReadAt (no mmap: nothing
// can fault), one page at a time, and never panics on any input. It does
// not check what cannot crash bbolt: key order, and pages neither used nor
// free.
func checkBolt(r io.ReaderAt, size int64) *corruption {
	meta, err := readBoltMeta(r, size)
	if err != nil {
		return err
	}
	ps := int64(meta.pageSize)
	if size%ps != 0 || size < 4*ps {
		return corrupt(-1, "size %d is not a whole number of %d-byte pages, at least 4", size, ps)
	}
	pages := uint64(size / ps)
	if meta.hwm < 4 || meta.hwm > pages {
		return corrupt(-1, "meta page claims %d pages in use, the file has %d", meta.hwm, pages)
	}
	if meta.freelist == boltNoFreelist {
		return corrupt(-1, "no freelist page (written with bbolt's NoFreelistSync): not a file this store writes")
	}
	c := &boltChecker{r: r, ps: ps, hwm: meta.hwm, used: make([]uint64, (meta.hwm+63)/64)}
	free, cerr := c.freelist(meta.freelist)
	if cerr != nil {
		return cerr
	}
	if meta.root < 2 {
		return corrupt(-1, "root bucket at page %d", meta.root)
	}
	if cerr := c.tree(meta.root, 0, 0); cerr != nil {
		return cerr
	}
	for _, id := range free {
		if c.isUsed(id) {
			return corrupt(int64(id), "page %d is both in use and free", id)
		}
	}
	return nil
}

// readBoltMeta finds the meta page bbolt would use: the valid one (magic,
// version, checksum) with the highest transaction id. Like bbolt, it finds
// the page size in the first meta page, or else tries the second at every
// power of two from 1 KiB.
func readBoltMeta(r io.ReaderAt, size int64) (*boltMeta, *corruption) {
	if size < 2*boltMinPageSize {
		return nil, corrupt(-1, "%d bytes is too short for a bbolt file", size)
	}
	var metas []*boltMeta
	first, err0 := decodeBoltMeta(r, 0)
	var err1 error
	if err0 == nil {
		metas = append(metas, first)
		if int64(first.pageSize)*2 <= size {
			second, err := decodeBoltMeta(r, int64(first.pageSize))
			if err == nil && second.pageSize == first.pageSize {
				metas = append(metas, second)
			}
		}
	} else {
		err1 = berrors.ErrInvalid
		for ps := int64(boltMinPageSize); ps <= boltMaxPageSize && 2*ps <= size; ps <<= 1 {
			second, err := decodeBoltMeta(r, ps)
			if err == nil && int64(second.pageSize) == ps {
				metas, err1 = append(metas, second), nil
				break
			} else if err != nil && err1 == berrors.ErrInvalid {
				err1 = err
			}
		}
	}
	if len(metas) == 0 {
		c := corrupt(-1, "neither meta page is valid (first: %v; second: %v): not a bbolt file, or both meta pages damaged", err0, err1)
		c.err = berrors.ErrInvalid
		return nil, c
	}
	best := metas[0]
	for _, m := range metas[1:] {
		if m.txid > best.txid {
			best = m
		}
	}
	return best, nil
}

// decodeBoltMeta reads and validates the meta page at offset off.
func decodeBoltMeta(r io.ReaderAt, off int64) (*boltMeta, error) {
	var buf [boltPageHeader + boltMetaLen]byte
	if _, err := r.ReadAt(buf[:], off); err != nil {
		return nil, fmt.Errorf("reading offset %d: %w", off, err)
	}
	m := buf[boltPageHeader:]
	switch {
	case ne.Uint32(m[0:]) != boltMagic:
		return nil, berrors.ErrInvalid
	case ne.Uint32(m[4:]) != boltVersion:
		return nil, berrors.ErrVersionMismatch
	}
	h := fnv.New64a()
	h.Write(m[:boltMetaSum])
	if h.Sum64() != ne.Uint64(m[boltMetaSum:]) {
		return nil, berrors.ErrChecksum
	}
	meta := &boltMeta{
		pageSize: ne.Uint32(m[8:]),
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		hwm:      ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}
	if meta.pageSize < boltMinPageSize || meta.pageSize > boltMaxPageSize || bits.OnesCount32(meta.pageSize) != 1 {
		return nil, fmt.Errorf("page size %d: %w", meta.pageSize, berrors.ErrInvalid)
	}
	return meta, nil
}

// boltChecker walks the pages in use.
type boltChecker struct {
	r    io.ReaderAt
	ps   int64
	hwm  uint64
	used []uint64 // bit set of the page ids seen in use
}

func (c *boltChecker) isUsed(id uint64) bool { return c.used[id/64]&(1<<(id%64)) != 0 }

// page reads page id with its overflow pages, after checking that they
// lie within the pages in use and were not seen before, and marks them
// seen.
func (c *boltChecker) page(id uint64) ([]byte, *corruption) {
	if id < 2 || id >= c.hwm {
		return nil, corrupt(int64(id), "page id %d outside the %d pages in use", id, c.hwm)
	}
	buf := make([]byte, c.ps)
	if _, err := c.r.ReadAt(buf, int64(id)*c.ps); err != nil {
		return nil, corrupt(int64(id), "reading page %d: %v", id, err)
	}
	if got := ne.Uint64(buf[0:]); got != id {
		return nil, corrupt(int64(id), "page %d identifies itself as page %d", id, got)
	}
	overflow := uint64(ne.Uint32(buf[12:]))
	if id+overflow >= c.hwm {
		return nil, corrupt(int64(id), "page %d with %d overflow pages ends past the %d pages in use", id, overflow, c.hwm)
	}
	for p := id; p <= id+overflow; p++ {
		if c.isUsed(p) {
			return nil, corrupt(int64(id), "page %d is referenced twice", p)
		}
		c.used[p/64] |= 1 << (p % 64)
	}
	if overflow > 0 {
		buf = append(buf, make([]byte, int64(overflow)*c.ps)...)
		if _, err := c.r.ReadAt(buf[c.ps:], int64(id+1)*c.ps); err != nil {
			return nil, corrupt(int64(id), "reading page %d: %v", id, err)
		}
	}
	return buf, nil
}

// freelist checks the freelist page and returns the free page ids.
func (c *boltChecker) freelist(id uint64) ([]uint64, *corruption) {
	p, err := c.page(id)
	if err != nil {
		return nil, err
	}
	if flags := ne.Uint16(p[8:]); flags != boltFreelist {
		return nil, corrupt(int64(id), "freelist page %d has flags %#x, not a freelist's", id, flags)
	}
	start, count := uint64(0), uint64(ne.Uint16(p[10:]))
	if count == 0xFFFF { // the real count is the first element
		if len(p) < boltPageHeader+8 {
			return nil, corrupt(int64(id), "freelist page %d is cut short", id)
		}
		start, count = 1, ne.Uint64(p[boltPageHeader:])
	}
	if room := uint64(len(p)-boltPageHeader) / 8; count > room || start+count > room {
		return nil, corrupt(int64(id), "freelist page %d lists %d ids, it has room for %d", id, count, room)
	}
	ids := make([]uint64, count)
	seen := make(map[uint64]struct{}, count)
	for i := range ids {
		fid := ne.Uint64(p[boltPageHeader+8*(start+uint64(i)):])
		if fid < 2 || fid >= c.hwm {
			return nil, corrupt(int64(id), "freelist page %d lists page %d, outside the %d pages in use", id, fid, c.hwm)
		}
		if _, dup := seen[fid]; dup {
			return nil, corrupt(int64(id), "freelist page %d lists page %d twice", id, fid)
		}
		seen[fid] = struct{}{}
		ids[i] = fid
	}
	return ids, nil
}

// tree checks the tree of pages rooted at page id: a bucket's, at depth
// levels below its root and nesting buckets deep.
func (c *boltChecker) tree(id uint64, depth, nesting int) *corruption {
	if depth > boltMaxTreeDepth {
		return corrupt(int64(id), "tree deeper than %d levels at page %d", boltMaxTreeDepth, id)
	}
	p, err := c.page(id)
	if err != nil {
		return err
	}
	switch flags := ne.Uint16(p[8:]); flags {
	case boltBranch:
		return c.branch(id, p, depth, nesting)
	case boltLeaf:
		return c.leaf(int64(id), p, nesting)
	default:
		return corrupt(int64(id), "tree page %d has flags %#x, neither branch nor leaf", id, flags)
	}
}

// elements checks that count element headers and what they point to lie
// within p, and calls fn with each element's header and its key and value
// (leaf) or key (branch) bytes.
func elements(page int64, p []byte, leaf bool, fn func(elem, key, value []byte) *corruption) *corruption {
	count := int(ne.Uint16(p[10:]))
	if boltPageHeader+count*boltElement > len(p) {
		return corrupt(page, "page %d holds %d elements, it has room for %d", page, count, (len(p)-boltPageHeader)/boltElement)
	}
	for i := range count {
		off := boltPageHeader + i*boltElement
		e := p[off : off+boltElement]
		var pos, ksize, vsize uint64
		if leaf {
			pos, ksize, vsize = uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
		} else {
			pos, ksize = uint64(ne.Uint32(e[0:])), uint64(ne.Uint32(e[4:]))
		}
		if ksize == 0 { // bbolt asserts a key in every element it reads
			return corrupt(page, "element %d of page %d has an empty key", i, page)
		}
		kstart := uint64(off) + pos
		end := kstart + ksize + vsize
		if end > uint64(len(p)) {
			return corrupt(page, "element %d of page %d points to bytes %d to %d, past its %d bytes", i, page, kstart, end, len(p))
		}
		if err := fn(e, p[kstart:kstart+ksize], p[kstart+ksize:end]); err != nil {
			return err
		}
	}
	return nil
}

// branch checks a branch page and the pages below it. bbolt never writes
// a branch page with fewer than 2 elements (a split leaves at least 2 on
// each side; a smaller branch is merged, or collapsed at the root), and
// its rebalancing asserts as much, so fewer is corruption.
func (c *boltChecker) branch(id uint64, p []byte, depth, nesting int) *corruption {
	if n := ne.Uint16(p[10:]); n < 2 {
		return corrupt(int64(id), "branch page %d has %d elements, bbolt writes at least 2", id, n)
	}
	return elements(int64(id), p, false, func(e, _, _ []byte) *corruption {
		return c.tree(ne.Uint64(e[8:]), depth+1, nesting)
	})
}

// leaf checks a leaf page (or an inline bucket's page, page -1) and the
// buckets it holds.
func (c *boltChecker) leaf(page int64, p []byte, nesting int) *corruption {
	return elements(page, p, true, func(e, _, value []byte) *corruption {
		if ne.Uint32(e[0:])&boltBucketLeaf == 0 {
			return nil
		}
		return c.bucket(page, value, nesting+1)
	})
}

// bucket checks a bucket value found on page: its own page tree, or its
// inline page.
func (c *boltChecker) bucket(page int64, value []byte, nesting int) *corruption {
	if nesting > boltMaxNesting {
		return corrupt(page, "buckets nested deeper than %d on page %d", boltMaxNesting, page)
	}
	if len(value) < boltInBucket {
		return corrupt(page, "bucket value of %d bytes on page %d, want at least %d", len(value), page, boltInBucket)
	}
	if root := ne.Uint64(value[0:]); root != 0 {
		return c.tree(root, 0, nesting)
	}
	inline := value[boltInBucket:]
	if len(inline) < boltPageHeader {
		return corrupt(page, "inline bucket of %d bytes on page %d, want at least %d", len(value), page, boltInBucket+boltPageHeader)
	}
	if flags := ne.Uint16(inline[8:]); flags != boltLeaf {
		return corrupt(page, "inline bucket on page %d has flags %#x, not a leaf's", page, flags)
	}
	return c.leaf(page, inline, nesting)
}
