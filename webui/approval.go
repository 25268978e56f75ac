package webui

import (
	"net/http"
	"os"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// Per-app approval on the page: the pending requests (with Allow once,
// Always allow and Deny) and the apps list (with Revoke per pair) are part
// of State; the buttons post here. The page decides as the daemon's own
// process (the user's click), never as the app that asked.

// pageCaller is who decides from the page: the daemon's own process.
func pageCaller() ipc.Peer { return ipc.Peer{UID: os.Getuid(), PID: os.Getpid(), Exe: WebPageCaller} }

// approvalState fills st's approval part.
func (h *Handler) approvalState(st *State) {
	st.Pending = h.d.PendingApprovals()
	apps, err := h.d.ApprovalApps()
	if err != nil {
		h.log.Warn("web page: reading the app approvals", "err", err)
		return
	}
	st.Apps = apps
}

func (h *Handler) decide(_ *http.Request, req *ipc.DecideRequest) (empty, error) {
	h.log.Info("web page: approval decided", "id", req.ID, "decision", req.Decision)
	return empty{}, h.d.Decide(req, pageCaller())
}

func (h *Handler) revoke(_ *http.Request, req *ipc.RevokeRequest) (empty, error) {
	h.log.Info("web page: app approval revoked", "app", req.App, "server", req.URL)
	_, err := h.d.Revoke(req.App, req.URL)
	return empty{}, err
}
