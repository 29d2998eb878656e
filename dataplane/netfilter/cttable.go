package netfilter

import "encoding/binary"

// tupleTable is the conntrack hash: Tuple → (connection, direction), open
// addressing with linear probing and a cheap multiplicative hash. Go's map
// hashes a 13-byte struct key with the general-purpose hasher; this table
// hashes it as two machine words, which is what keeps the per-packet
// conntrack lookup cheap. Deleted slots are tombstones until the next grow.
type tupleTable struct {
	slots []ctSlot
	mask  uint64
	live  int
	used  int // live + tombstones
}

type ctSlot struct {
	key   Tuple
	ref   ctRef
	state uint8 // 0 empty, 1 live, 2 tombstone
}

func newTupleTable() tupleTable {
	return tupleTable{slots: make([]ctSlot, 64), mask: 63}
}

// hashTuple mixes the tuple's two words with splitmix64's finalizer, so
// that every bit of the tuple reaches the low bits the table indexes by.
// (A single multiply leaves the low bits a function of the low input bits
// only: the first octets of the addresses, the same for every pod of a
// cluster, which piled a matrix's connections into a few long probe runs.)
func hashTuple(t Tuple) uint64 {
	a := uint64(binary.LittleEndian.Uint32(t.Src[:]))<<32 | uint64(binary.LittleEndian.Uint32(t.Dst[:]))
	b := uint64(t.SPort)<<24 | uint64(t.DPort)<<8 | uint64(t.Proto)
	h := a ^ (b * 0x9e3779b97f4a7c15)
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	return h ^ h>>31
}

func (tt *tupleTable) get(t Tuple) (ctRef, bool) {
	i := hashTuple(t) & tt.mask
	for {
		s := &tt.slots[i]
		switch s.state {
		case 0:
			return ctRef{}, false
		case 1:
			if s.key == t {
				return s.ref, true
			}
		}
		i = (i + 1) & tt.mask
	}
}

// full reports whether n more entries would make the table grow.
func (tt *tupleTable) full(n int) bool { return (tt.used+n)*2 > len(tt.slots) }

func (tt *tupleTable) set(t Tuple, r ctRef) {
	if (tt.used+1)*2 > len(tt.slots) {
		tt.grow()
	}
	i := hashTuple(t) & tt.mask
	tomb := -1
	for {
		s := &tt.slots[i]
		switch s.state {
		case 0:
			if tomb >= 0 {
				s = &tt.slots[tomb]
			} else {
				tt.used++
			}
			s.key, s.ref, s.state = t, r, 1
			tt.live++
			return
		case 1:
			if s.key == t {
				s.ref = r
				return
			}
		case 2:
			if tomb < 0 {
				tomb = int(i)
			}
		}
		i = (i + 1) & tt.mask
	}
}

func (tt *tupleTable) del(t Tuple) {
	i := hashTuple(t) & tt.mask
	for {
		s := &tt.slots[i]
		switch s.state {
		case 0:
			return
		case 1:
			if s.key == t {
				s.state, s.ref = 2, ctRef{}
				tt.live--
				return
			}
		}
		i = (i + 1) & tt.mask
	}
}

func (tt *tupleTable) grow() {
	old := tt.slots
	n := len(old)
	if tt.live*4 >= n { // mostly live: double; mostly tombstones: rehash in place size
		n *= 2
	}
	tt.slots, tt.mask, tt.live, tt.used = make([]ctSlot, n), uint64(n-1), 0, 0
	for i := range old {
		if old[i].state == 1 {
			tt.set(old[i].key, old[i].ref)
		}
	}
}

// each calls f for every live entry.
func (tt *tupleTable) each(f func(Tuple, ctRef)) {
	for i := range tt.slots {
		if tt.slots[i].state == 1 {
			f(tt.slots[i].key, tt.slots[i].ref)
		}
	}
}
