package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/vigil-ids/vigil/internal/auth"
)

// userJSON is an account as GET /api/users gives it (never its hash).
type userJSON struct {
	Name    string    `json:"name"`
	Role    auth.Role `json:"role"`
	Created time.Time `json:"created"`
}

// getUsers lists the accounts (admin).
func (s *Server) getUsers(w http.ResponseWriter, r *http.Request) {
	if s.o.Accounts == nil {
		writeJSON(w, http.StatusOK, []userJSON{})
		return
	}
	us, err := s.o.Accounts.List()
	if err != nil {
		s.o.Logger.Error("listing accounts", "err", err)
		writeError(w, http.StatusInternalServerError, errors.New("the accounts file cannot be read; see the server's log"))
		return
	}
	out := make([]userJSON, 0, len(us))
	for _, u := range us {
		out = append(out, userJSON{Name: u.Name, Role: u.Role, Created: u.Created})
	}
	writeJSON(w, http.StatusOK, out)
}

// newUserRequest is POST /api/users's body.
type newUserRequest struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
	Replace  bool   `json:"replace"`
}

// postUser adds an account, or with "replace" sets an existing one's
// password and role (admin).
func (s *Server) postUser(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if s.o.Accounts == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("this server keeps no accounts"))
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLoginBody))
	dec.DisallowUnknownFields()
	var req newUserRequest
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("request body: want {\"name\", \"role\", \"password\", \"replace\"}: %w", err))
		return
	}
	role, err := auth.ParseRole(req.Role)
	if err == nil {
		err = auth.ValidName(req.Name)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	select {
	case s.sess.hash <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	err = s.o.Accounts.Add(req.Name, role, []byte(req.Password), s.o.Clock.Now(), req.Replace)
	<-s.sess.hash
	s.o.Accounts.TakeChanges() // recorded below, with the admin's name
	action := "user_added"
	if req.Replace {
		action = "user_replaced"
	}
	detail := "role " + string(role)
	if err != nil {
		detail += ": " + err.Error()
	}
	s.audit(r, p, action, req.Name, err == nil, detail)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, userJSON{Name: req.Name, Role: role, Created: s.o.Clock.Now().UTC()})
}

// deleteUser removes an account; its sessions end at their next request
// (admin).
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if s.o.Accounts == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("this server keeps no accounts"))
		return
	}
	name := r.PathValue("name")
	err := s.o.Accounts.Remove(name)
	s.o.Accounts.TakeChanges()
	detail := ""
	if err != nil {
		detail = err.Error()
	}
	s.audit(r, p, "user_removed", name, err == nil, detail)
	switch {
	case errors.Is(err, auth.ErrNoUser):
		writeError(w, http.StatusNotFound, err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, map[string]string{"removed": name})
	}
}
