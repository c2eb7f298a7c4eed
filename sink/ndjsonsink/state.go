package ndjsonsink

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
)

// Names in the work directory.
const (
	workDirName = ".ndjsonsink"
	journalName = "deletes.journal"
	lockName    = "lock"
	tmpSuffix   = ".tmp"
)

var (
	partRe   = regexp.MustCompile(`^([A-Z][A-Za-z]{1,63})\.([0-9]{6})\.ndjson$`)
	outputRe = regexp.MustCompile(`^(?:[A-Z][A-Za-z]{1,63}|deleted)\.[0-9]{6}\.ndjson$`)
)

// ErrCorrupt reports a work file that holds a complete line that is not
// what the sink wrote (not a crash's torn tail): the set needs a person.
var ErrCorrupt = errors.New("ndjsonsink: corrupt work file")

// part is one work file of a resource type: an append-only NDJSON file whose
// lines a later op may have superseded (dead lines).
type part struct {
	seq   int
	path  string
	f     *os.File // open for writing while it is its type's last part
	size  int64
	lines int32
	dead  []uint64 // bitmap of superseded lines
	ndead int32
}

func (p *part) kill(line int32) {
	w, b := line/64, uint(line%64)
	for int(w) >= len(p.dead) {
		p.dead = append(p.dead, 0)
	}
	if p.dead[w]&(1<<b) == 0 {
		p.dead[w] |= 1 << b
		p.ndead++
	}
}

func (p *part) isDead(line int32) bool {
	w, b := line/64, uint(line%64)
	return int(w) < len(p.dead) && p.dead[w]&(1<<b) != 0
}

func (p *part) live() int { return int(p.lines - p.ndead) }

// loc is where the latest line of an id is: part index and line number.
type loc struct{ part, line int32 }

// typeState is everything the sink knows of one resource type.
type typeState struct {
	name    string
	parts   []*part
	index   map[string]loc      // id -> its latest line
	deleted map[string]struct{} // ids whose last op in the set is a delete
	total   int64               // lines written across parts: the ordinal of the next
}

func newTypeState(name string) *typeState {
	return &typeState{name: name, index: map[string]loc{}, deleted: map[string]struct{}{}}
}

func (ts *typeState) upsert(id string, l loc) {
	if old, ok := ts.index[id]; ok {
		ts.parts[old.part].kill(old.line)
	}
	ts.index[id] = l
	delete(ts.deleted, id)
}

func (ts *typeState) remove(id string) {
	if old, ok := ts.index[id]; ok {
		ts.parts[old.part].kill(old.line)
		delete(ts.index, id)
	}
	ts.deleted[id] = struct{}{}
}

// journalEntry is one line of the deletes journal: id of type was deleted
// after the first After lines of that type were written.
type journalEntry struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	After int64  `json:"after"`
}

// state is the work directory read back.
type state struct {
	types       map[string]*typeState
	journalSize int64
}

func (st *state) typeFor(name string) *typeState {
	ts := st.types[name]
	if ts == nil {
		ts = newTypeState(name)
		st.types[name] = ts
	}
	return ts
}

func (st *state) sortedTypes() []*typeState {
	out := make([]*typeState, 0, len(st.types))
	for _, ts := range st.types {
		out = append(out, ts)
	}
	slices.SortFunc(out, func(a, b *typeState) int { return cmp.Compare(a.name, b.name) })
	return out
}

// load reads a work directory back: the parts of each type in order and the
// deletes journal, replayed in the order they were written. A crash can leave
// the last line of a file torn (no newline): with repair it is cut off the
// file (it was never acknowledged), without it is ignored. Leftover temporary
// files are removed with repair. Any other damage is ErrCorrupt.
func load(work string, repair bool) (*state, error) {
	entries, err := os.ReadDir(work)
	if err != nil {
		return nil, err
	}
	st := &state{types: map[string]*typeState{}}
	for _, e := range entries {
		name := e.Name()
		switch m := partRe.FindStringSubmatch(name); {
		case m != nil:
			seq, _ := strconv.Atoi(m[2])
			ts := st.typeFor(m[1])
			ts.parts = append(ts.parts, &part{seq: seq, path: filepath.Join(work, name)})
		case name == journalName || name == lockName:
		case filepath.Ext(name) == tmpSuffix:
			if repair {
				if err := os.Remove(filepath.Join(work, name)); err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("%w: unexpected file in %s", ErrCorrupt, work)
		}
	}
	deletes, jsize, err := readJournal(filepath.Join(work, journalName), repair)
	if err != nil {
		return nil, err
	}
	st.journalSize = jsize
	byType := map[string][]journalEntry{}
	for _, d := range deletes {
		byType[d.Type] = append(byType[d.Type], d)
		st.typeFor(d.Type)
	}
	for _, ts := range st.types {
		slices.SortFunc(ts.parts, func(a, b *part) int { return cmp.Compare(a.seq, b.seq) })
		pending := byType[ts.name]
		applyUpTo := func(ordinal int64) {
			for len(pending) > 0 && pending[0].After <= ordinal {
				ts.remove(pending[0].ID)
				pending = pending[1:]
			}
		}
		for pi, p := range ts.parts {
			err := scanPart(p, ts.name, repair, func(line int32, id string) {
				applyUpTo(ts.total)
				ts.upsert(id, loc{part: int32(pi), line: line})
				ts.total++
			})
			if err != nil {
				return nil, err
			}
		}
		applyUpTo(1<<62 - 1) // deletes after the last line (or of lines a crash lost)
	}
	return st, nil
}

// lineHead is what the sink reads of a line: its type and id.
type lineHead struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
}

// scanPart reads the lines of a part, calling fn for each, and sets p.size
// and p.lines to the intact content.
func scanPart(p *part, typ string, repair bool, fn func(line int32, id string)) error {
	f, err := os.Open(p.path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	var off int64
	var n int32
	for {
		b, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(b) > 0 { // torn tail: a write that never completed
				if repair {
					if err := truncate(p.path, off); err != nil {
						return err
					}
				}
			}
			break
		}
		if err != nil {
			return err
		}
		var h lineHead
		if json.Unmarshal(b, &h) != nil || h.ResourceType != typ || h.ID == "" {
			return fmt.Errorf("%w: %s line %d", ErrCorrupt, p.path, n+1)
		}
		fn(n, h.ID)
		n++
		off += int64(len(b))
	}
	p.size, p.lines = off, n
	return nil
}

func readJournal(path string, repair bool) ([]journalEntry, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out []journalEntry
	var off int64
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(b) > 0 && repair {
				if err := truncate(path, off); err != nil {
					return nil, 0, err
				}
			}
			return out, off, nil
		}
		if err != nil {
			return nil, 0, err
		}
		var e journalEntry
		if json.Unmarshal(b, &e) != nil || e.Type == "" || e.ID == "" {
			return nil, 0, fmt.Errorf("%w: %s line %d", ErrCorrupt, path, line)
		}
		out = append(out, e)
		off += int64(len(b))
	}
}

func truncate(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// eachLiveLine calls fn with every live line of the parts of ts, in order,
// reading no further than the lines load counted.
func eachLiveLine(ts *typeState, fn func(p *part, line int32, b []byte) error) error {
	for _, p := range ts.parts {
		if p.live() == 0 {
			continue
		}
		if err := eachLine(p.path, p.lines, func(line int32, b []byte) error {
			if p.isDead(line) {
				return nil
			}
			return fn(p, line, b)
		}); err != nil {
			return err
		}
	}
	return nil
}

// eachLine calls fn with the first n lines of a file, or with all of them
// when n is negative, without their newline (b is reused between calls).
// A file that ends before n lines, or (n negative) with an unfinished line,
// is ErrCorrupt.
func eachLine(path string, n int32, fn func(line int32, b []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	var buf []byte
	for i := int32(0); n < 0 || i < n; i++ {
		buf = buf[:0]
		for {
			chunk, err := r.ReadSlice('\n')
			buf = append(buf, chunk...)
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF && n < 0 && len(buf) == 0 {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%w: %s ends before line %d is complete", ErrCorrupt, path, i+1)
			}
			break
		}
		if err := fn(i, bytes.TrimSuffix(buf, []byte{'\n'})); err != nil {
			return err
		}
	}
	return nil
}
