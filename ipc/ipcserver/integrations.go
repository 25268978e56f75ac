package ipcserver

import (
	"net/http"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// Routes of the local reverse proxy's apps and of imports (ipc/integrations.go).

func (h *Handler) apps(w http.ResponseWriter, r *http.Request) {
	list, err := h.D.Apps()
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, list)
}

func (h *Handler) addApp(_ *http.Request, req *ipc.AppRequest) (*ipc.AppInfo, error) {
	return h.D.AddApp(req)
}

func (h *Handler) removeApp(_ *http.Request, req *ipc.AppRequest) (empty, error) {
	return empty{}, h.D.RemoveApp(req.Name)
}

func (h *Handler) importGrant(r *http.Request, req *ipc.ImportRequest) (*ipc.ServerInfo, error) {
	return h.D.Import(r.Context(), req, peer(r))
}
