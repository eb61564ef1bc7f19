package lb

import "sync"

// backendSet is a route's members that take requests. Adding, replacing and removing a member
// take constant time (the last backend moves into a removed one's place), so a member event costs
// the same in a cluster of ten members as in one of a hundred thousand; requests read it under
// the read lock.
type backendSet struct {
	mu    sync.RWMutex
	list  []backend
	index map[string]int // member id -> position in list
}

// put adds b, or replaces the member's backend in place.
func (s *backendSet) put(b backend) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.index[b.memberID]; ok {
		s.list[i] = b
		return
	}
	if s.index == nil {
		s.index = map[string]int{}
	}
	s.index[b.memberID] = len(s.list)
	s.list = append(s.list, b)
}

// remove takes the member's backend out, if it is there.
func (s *backendSet) remove(memberID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.index[memberID]
	if !ok {
		return
	}
	last := len(s.list) - 1
	if i != last {
		s.list[i] = s.list[last]
		s.index[s.list[i].memberID] = i
	}
	s.list[last] = backend{}
	s.list = s.list[:last]
	delete(s.index, memberID)
}

// at returns the backend at position i modulo the set's size, the position, and the size; ok is
// false when the set is empty.
func (s *backendSet) at(i uint64) (b backend, pos, n int, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n = len(s.list)
	if n == 0 {
		return backend{}, 0, 0, false
	}
	pos = int(i % uint64(n))
	return s.list[pos], pos, n, true
}
