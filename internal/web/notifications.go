package web

import (
	"net/http"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/store"
)

type notificationsData struct {
	layoutData
	Deliveries []api.DeliveryView
}

// notificationsPage lists the newest deliveries (GET /notifications); like
// the API's list, it needs a deployer.
func (h *Handler) notificationsPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	d := notificationsData{layoutData: h.layout(s, h.seq(), "Notifications", "notifications", "", bannerData{})}
	if !d.CanDeploy {
		return &api.Error{Status: http.StatusForbidden, Message: "notifications need a deployer",
			Detail: "the deliveries list needs role deployer or admin; your token has " + s.Token.Role}
	}
	b, err := h.cachedBanner(r.Context())
	if err != nil {
		return err
	}
	d.Banner = b
	ds, err := h.e.Store().DeliveryList(r.Context(), &store.DeliveryListParams{Newest: true, Limit: 200})
	if err != nil {
		return err
	}
	for _, x := range ds {
		d.Deliveries = append(d.Deliveries, api.DeliveryViewOf(x))
	}
	return render(w, h.pages.notifications, "layout", d)
}
