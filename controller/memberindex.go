package controller

import (
	"slices"
	"sort"
	"strings"

	"github.com/strata-paas/strata/internal/model"
)

// The member index: per cluster instance, its member ids in order and its members by state, kept
// as members come, change state and go, so that a page of the runtime view costs the page and a
// binary search (ApplicationPage), not a walk over every member of the application under c.mu.

// idBlock is the most ids one block of an idSet holds before it splits in two. A block insert
// moves at most this many strings; a lookup is a binary search over blocks, then in one block.
const idBlock = 512

// idSet is a sorted set of strings in blocks of at most idBlock: insert, delete and seek cost
// O(log n + idBlock), with no per-element allocation (a two-level B-tree).
type idSet struct {
	blocks [][]string // each sorted and non-empty; every id of a block sorts before the next block's
	n      int
}

// block returns the index of the block that holds id or would: the first whose last id is >= id
// (the last block when id sorts after everything).
func (s *idSet) block(id string) int {
	i := sort.Search(len(s.blocks), func(i int) bool { b := s.blocks[i]; return b[len(b)-1] >= id })
	return min(i, len(s.blocks)-1)
}

// insert adds id; it reports false when id was there.
func (s *idSet) insert(id string) bool {
	if len(s.blocks) == 0 {
		s.blocks = append(s.blocks, append(make([]string, 0, 16), id))
		s.n++
		return true
	}
	bi := s.block(id)
	b := s.blocks[bi]
	j, found := slices.BinarySearch(b, id)
	if found {
		return false
	}
	b = slices.Insert(b, j, id)
	if len(b) > idBlock {
		half := len(b) / 2
		tail := append(make([]string, 0, idBlock), b[half:]...)
		clear(b[half:])
		b = b[:half]
		s.blocks = slices.Insert(s.blocks, bi+1, tail)
	}
	s.blocks[bi] = b
	s.n++
	return true
}

// delete removes id; it reports false when id was not there.
func (s *idSet) delete(id string) bool {
	if len(s.blocks) == 0 {
		return false
	}
	bi := s.block(id)
	b := s.blocks[bi]
	j, found := slices.BinarySearch(b, id)
	if !found {
		return false
	}
	b = slices.Delete(b, j, j+1)
	s.n--
	switch {
	case len(b) == 0:
		s.blocks = slices.Delete(s.blocks, bi, bi+1)
		return true
	case bi+1 < len(s.blocks) && len(b)+len(s.blocks[bi+1]) <= idBlock/2:
		// Merge small neighbours, so that deletions do not leave many tiny blocks behind.
		b = append(b, s.blocks[bi+1]...)
		s.blocks = slices.Delete(s.blocks, bi+1, bi+2)
	}
	s.blocks[bi] = b
	return true
}

// len is the number of ids.
func (s *idSet) len() int { return s.n }

// cursor returns the position of the first id after after, for next.
func (s *idSet) cursor(after string) idCursor {
	if len(s.blocks) == 0 {
		return idCursor{}
	}
	bi := sort.Search(len(s.blocks), func(i int) bool { b := s.blocks[i]; return b[len(b)-1] > after })
	if bi == len(s.blocks) {
		return idCursor{s: s, bi: bi}
	}
	j := sort.Search(len(s.blocks[bi]), func(j int) bool { return s.blocks[bi][j] > after })
	return idCursor{s: s, bi: bi, j: j}
}

// idCursor walks an idSet in order. It is valid until the set changes.
type idCursor struct {
	s     *idSet
	bi, j int
}

// peek returns the id at the cursor, or false at the end.
func (c *idCursor) peek() (string, bool) {
	if c.s == nil || c.bi >= len(c.s.blocks) {
		return "", false
	}
	return c.s.blocks[c.bi][c.j], true
}

// next moves past the id at the cursor.
func (c *idCursor) next() {
	if c.j++; c.j >= len(c.s.blocks[c.bi]) {
		c.bi, c.j = c.bi+1, 0
	}
}

// instanceIndex is a cluster instance's member ids and member counts by state.
type instanceIndex struct {
	ids    idSet
	counts map[model.MemberStatus]int
}

// indexAddLocked puts a member that joined cl.Cluster.MemberMap into the index.
func (cl *cluster) indexAddLocked(m *model.Member) {
	if cl.index == nil {
		cl.index = map[string]*instanceIndex{}
	}
	ix := cl.index[m.ClusterInstanceID]
	if ix == nil {
		ix = &instanceIndex{counts: map[model.MemberStatus]int{}}
		cl.index[m.ClusterInstanceID] = ix
	}
	if ix.ids.insert(m.MemberID) {
		ix.counts[m.Status()]++
	}
}

// indexRemoveLocked takes a member that left cl.Cluster.MemberMap out of the index; it is
// counted under its state before it left.
func (cl *cluster) indexRemoveLocked(m *model.Member) {
	ix := cl.index[m.ClusterInstanceID]
	if ix == nil || !ix.ids.delete(m.MemberID) {
		return
	}
	ix.uncount(m.Status())
	if ix.ids.len() == 0 {
		delete(cl.index, m.ClusterInstanceID)
	}
}

// indexMoveLocked counts a member of the index under its new state; from is its state before.
func (cl *cluster) indexMoveLocked(m *model.Member, from model.MemberStatus) {
	ix := cl.index[m.ClusterInstanceID]
	if ix == nil || from == m.Status() {
		return
	}
	ix.uncount(from)
	ix.counts[m.Status()]++
}

func (ix *instanceIndex) uncount(st model.MemberStatus) {
	if ix.counts[st]--; ix.counts[st] <= 0 {
		delete(ix.counts, st)
	}
}

// mergeCursor walks several idSets' cursors as one ordered sequence (a k-way merge; k is the
// cluster instances of an application, a handful).
type mergeCursor struct {
	cs []idCursor
	cl []*cluster // the cluster of each cursor
}

// next returns the smallest id left, its cluster, or false at the end.
func (mc *mergeCursor) next() (string, *cluster, bool) {
	best := -1
	var bestID string
	for i := range mc.cs {
		id, ok := mc.cs[i].peek()
		if ok && (best < 0 || strings.Compare(id, bestID) < 0) {
			best, bestID = i, id
		}
	}
	if best < 0 {
		return "", nil, false
	}
	mc.cs[best].next()
	return bestID, mc.cl[best], true
}
