package httpapi

import (
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/batonhq/baton/orchestrator"
	"github.com/batonhq/baton/orchestrator/groups"
	"github.com/batonhq/baton/orchestrator/pipeline"
	"github.com/batonhq/baton/placement"
)

func (s *Server) readSpec(c echo.Context) (*pipeline.Spec, error) {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return nil, err
	}
	spec, err := pipeline.Parse(body)
	if err != nil {
		var ve *pipeline.ValidationError
		if errors.As(err, &ve) { // a parse failure is a malformed body: 400
			return nil, &httpError{status: http.StatusBadRequest, body: errorBody{Error: ve.Error(), Problems: ve.Problems}}
		}
		return nil, err
	}
	return spec, nil
}

func adminError(err error) error {
	switch {
	case errors.Is(err, orchestrator.ErrPipelineNotFound):
		return errorf(http.StatusNotFound, "%s", err.Error())
	case errors.Is(err, orchestrator.ErrReadOnly):
		return errorf(http.StatusConflict, "%s; edit the file instead", err.Error())
	}
	return err
}

func (s *Server) createPipeline(c echo.Context) error {
	spec, err := s.readSpec(c)
	if err != nil {
		return err
	}
	if _, err := s.svc.Get(spec.Name); err == nil {
		return errorf(http.StatusConflict, "pipeline %q already exists; PUT /admin/pipelines/%s replaces it", spec.Name, spec.Name)
	}
	info, _, err := s.svc.Apply(c.Request().Context(), spec)
	if err != nil {
		return adminError(err)
	}
	return c.JSON(http.StatusCreated, info)
}

func (s *Server) putPipeline(c echo.Context) error {
	spec, err := s.readSpec(c)
	if err != nil {
		return err
	}
	if spec.Name == "" {
		spec.Name = c.Param("name")
	}
	if spec.Name != c.Param("name") {
		return errorf(http.StatusBadRequest, "name: %q in the body differs from %q in the path", spec.Name, c.Param("name"))
	}
	info, created, err := s.svc.Apply(c.Request().Context(), spec)
	if err != nil {
		return adminError(err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, info)
}

func (s *Server) getPipeline(c echo.Context) error {
	info, err := s.svc.Get(c.Param("name"))
	if err != nil {
		return adminError(err)
	}
	return c.JSON(http.StatusOK, info)
}

func (s *Server) listPipelines(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"pipelines": s.svc.List()})
}

func (s *Server) deletePipeline(c echo.Context) error {
	if err := s.svc.Delete(c.Request().Context(), c.Param("name")); err != nil {
		return adminError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) getFleet(c echo.Context) error {
	if s.opts.Fleet == nil {
		return c.JSON(http.StatusOK, map[string]any{"instances": []any{}})
	}
	return c.JSON(http.StatusOK, map[string]any{"instances": s.opts.Fleet.States()})
}

// Placements is the placement loop as the admin API sees it.
type Placements interface {
	Last() *placement.Plan
}

// getPlacements answers the last plan with every candidate's verdicts and
// scores; ?pipeline=NAME narrows it to one pipeline, ?format=text renders
// it for people.
func (s *Server) getPlacements(c echo.Context) error {
	if s.opts.Placements == nil {
		return errorf(http.StatusNotFound, "placement is off (baton serve --placement=false)")
	}
	plan := s.opts.Placements.Last()
	if plan == nil {
		return errorf(http.StatusServiceUnavailable, "no placement round has run yet")
	}
	var only []string
	if p := c.QueryParam("pipeline"); p != "" {
		if _, ok := s.svc.Plan(p); !ok {
			return errorf(http.StatusNotFound, "unknown pipeline %q", p)
		}
		only = append(only, p)
	}
	ex, err := plan.Explain(only...)
	if err != nil {
		return err
	}
	if c.QueryParam("format") == "text" {
		return c.String(http.StatusOK, ex.Text())
	}
	return c.JSON(http.StatusOK, ex)
}

// Groups is the multi-model group manager as the admin API sees it.
type Groups interface {
	Groups() []groups.View
	Group(name string) (groups.View, bool)
}

func (s *Server) listGroups(c echo.Context) error {
	if s.opts.Groups == nil {
		return c.JSON(http.StatusOK, []groups.View{})
	}
	out := s.opts.Groups.Groups()
	if out == nil {
		out = []groups.View{}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getGroup(c echo.Context) error {
	name := c.Param("name")
	if s.opts.Groups != nil {
		if v, ok := s.opts.Groups.Group(name); ok {
			return c.JSON(http.StatusOK, v)
		}
	}
	return errorf(http.StatusNotFound, "unknown group %q", name)
}
