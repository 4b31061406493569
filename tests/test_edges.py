"""The edge rules on real events of every era in data/, and on the shapes the real hours
do not hold (2013-14 timeline leftovers, reviews, bots)."""
import gzip
import json

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from helpers import HOURS, batch_test_pipeline
from pulse.io.bigquery_export import to_flat, to_nested
from pulse.io.json_records import decode_lines
from pulse.schemas.dead_letters import DEAD
from pulse.transforms.edges import (BOT, NO_PARTNER, ORG_OWNER, SELF_EDGE, ExtractEdges,
                                    edge_of)
from pulse.transforms.events import BadRecord, normalise


def _by_id():
  records = {}
  for path in HOURS.values():
    with gzip.open(path) as f:
      for kind, record in decode_lines(f):
        records[record["id"]] = record
  return records


REAL = _by_id()

# (year, event id, type, expected (src, dst) or the reason there is none)
REAL_CASES = [
    ("2011", "1132219626", "PushEvent", ("cmsgsteam-logger", "cmsgs")),
    ("2011", "1132219608", "PushEvent", SELF_EDGE),
    ("2011", "1132219645", "MemberEvent", ("hub-cap", "rnirmal")),       # member a string
    ("2011", "1132221014", "IssuesEvent", ("marcinkuzminski", "codeinn")),  # issue an id
    ("2011", "1132223592", "FollowEvent", ("balupton", "mjijackson")),
    ("2011", "1132229733", "ForkEvent", ("matcatc", "promyloph")),        # the forked repo
    ("2011", "1132241716", "PullRequestEvent", SELF_EDGE),   # repo only in payload.repo
    ("2011", "1132249871", "WatchEvent", ("cstrahan", "chrisdone")),     # likewise
    ("2011", "1132229596", "GistEvent", NO_PARTNER),
    ("2012", "1519871561", "IssueCommentEvent", ("greenlaw110", "tazmaniax")),
    ("2012", "1519871669", "PullRequestEvent", ("ronsigal", "resteasy")),  # base.user
    ("2012", "1519872082", "FollowEvent", ("dbinetti", "justinlynn")),
    ("2012", "1519872304", "MemberEvent", ("toastcfh", "cayniarb")),
    ("2012", "1519871560", "ForkEvent", ("saem", "doctrine")),
    ("2012", "1519872321", "CommitCommentEvent", ("4m1g0", "trinitycore")),
    ("2015", "2489582590", "WatchEvent", ("remidewitte", "begriffs")),
    ("2015", "2489582798", "IssueCommentEvent", ("pkol", "krzysztofmadejski")),
    ("2015", "2489582725", "IssueCommentEvent", SELF_EDGE),
    ("2015", "2489582894", "MemberEvent", ("thundzz", "nheng0")),
    ("2015", "2489582978", "ForkEvent", ("smithfarm", "stevan")),
    ("2015", "2489583371", "PullRequestReviewCommentEvent", ("snuffleupagus",
                                                              "timvandermeij")),
    ("2015", "2489582634", "PullRequestEvent", ("tachikomapocket", "deniyung")),
    ("2015", "2489582602", "IssuesEvent", ("pfalabella", "rust-lang")),
]


@pytest.mark.parametrize("year,event_id,kind,expected", REAL_CASES)
def test_real_events(year, event_id, kind, expected):
  event = normalise(REAL[event_id])
  assert event["type"] == kind
  edge, reason = edge_of(event)
  if isinstance(expected, tuple):
    assert reason is None and (edge["src"], edge["dst"]) == expected
    assert edge["id"] == event_id and edge["type"] == kind
    assert edge["created_at"] == event["created_at"]
  else:
    assert edge is None and reason == expected


def test_fork_partner_is_the_forked_repos_owner_not_the_forker():
  raw = REAL["2489582978"]
  assert raw["payload"]["forkee"]["owner"]["login"] == "smithfarm"
  assert edge_of(normalise(raw))[0]["dst"] == "stevan"


def test_push_partner_is_the_repo_owner_not_a_commit_author_name():
  raw = REAL["2489582628"]      # lukeis pushes to SeleniumHQ/irc-logs
  edge = edge_of(normalise(raw))[0]
  assert (edge["src"], edge["dst"]) == ("lukeis", "seleniumhq")


def _event(kind, actor="alice", repo="bob/tool", payload=None, **extra):
  record = {"type": kind, "id": "1", "created_at": "2014-03-01T10:00:00Z",
            "actor": {"login": actor}, "repo": {"name": repo}, "payload": payload or {}}
  record.update(extra)
  return normalise(record)


def test_2013_repo_name_without_owner_takes_owner_from_other_or_url():
  from_other = _event("WatchEvent", repo="tool", other=json.dumps(
      {"repository": {"owner": "Bob", "name": "tool"}}))
  assert edge_of(from_other)[0]["dst"] == "bob"
  from_url = normalise({"type": "WatchEvent", "id": "2", "created_at": 1393668000000000,
                        "actor": {"login": "alice"},
                        "repo": {"name": "tool", "url": "https://github.com/carol/tool"}})
  assert edge_of(from_url)[0]["dst"] == "carol"


# 2013-14 rows of the GitHub Archive BigQuery year tables (the timeline API's events in the
# nested table shape, as arfon/gh_archive_parser's event_transform.rb writes them): no
# event id, a bare repo name, the owner at best in the repo URL, the timeline repository's
# other fields in `other` (a JSON string), an organisation's login in org.login.
def _row_2013(kind="IssueCommentEvent", url="https://github.com//filur", owner=None,
              organization="SoJavaScriptRoom", org="SoJavaScriptRoom", name="filur"):
  repository = {"description": "filur", "watchers": 1, "stargazers": 1, "forks": 0,
                "fork": False, "size": 132, "private": False, "open_issues": 0,
                "has_issues": True, "has_downloads": True, "has_wiki": True,
                "created_at": "2013-02-14T07:47:08-08:00",
                "pushed_at": "2013-02-15T00:00:08-08:00", "master_branch": "master"}
  if owner is not None:
    repository["owner"] = owner
  if organization is not None:
    repository["organization"] = organization
  record = {"payload": json.dumps({"issue_id": 11004099, "comment_id": 13595919}),
            "public": True, "repo": {"id": 8202275, "url": url, "name": name},
            "actor": {"login": "darkyen", "gravatar_id": "51ee70705b6b493a3b390a5dd5c9d949"},
            "created_at": "2013-02-15 08:00:43",
            "other": json.dumps({"repository": repository, "actor_attributes": {
                "name": "Abhishek Hingnikar", "type": "User"}}),
            "type": kind}
  if org is not None:
    record["org"] = {"login": org}
  return record


def _dst_in_every_shape(record):
  """The edge's dst from the row as read from JSON and from both Avro export shapes."""
  results = {edge_of(normalise(shape(record)))[0]["dst"]
             for shape in (lambda r: r, to_nested, to_flat)}
  assert len(results) == 1, results
  return results.pop()


def test_2013_blank_url_owner_takes_the_owner_from_the_organisation():
  assert _dst_in_every_shape(_row_2013()) == "sojavascriptroom"
  # Only in other.repository.organization; only in org.login (org_login when flat).
  assert _dst_in_every_shape(_row_2013(org=None)) == "sojavascriptroom"
  assert _dst_in_every_shape(_row_2013(organization=None)) == "sojavascriptroom"
  assert edge_of(normalise(_row_2013(org=None, organization=None))) == (None, NO_PARTNER)


def test_2013_owner_sources_in_order():
  """repo "owner/name", other.repository.owner, a non-blank URL owner,
  other.repository.organization, the org login: the first that names one."""
  assert _dst_in_every_shape(_row_2013(name="Name/filur", owner="o")) == "name"
  assert _dst_in_every_shape(_row_2013(
      owner="Owner", url="https://github.com/url/filur")) == "owner"
  assert _dst_in_every_shape(_row_2013(url="https://github.com/Url/filur")) == "url"
  assert _dst_in_every_shape(_row_2013(
      url="https://api.github.com/repos//filur", organization="Organisation",
      org="other-org")) == "organisation"
  assert _dst_in_every_shape(_row_2013(url="", organization=None, org="Org")) == "org"


def test_an_event_without_a_repo_takes_no_owner_from_its_org():
  gist = _row_2013(kind="GistEvent", name="/", url="https://github.com//")
  assert edge_of(normalise(gist)) == (None, NO_PARTNER)


def test_issue_and_pull_request_fall_back_to_owners():
  own_issue = _event("IssuesEvent", payload={"issue": {"user": {"login": "ALICE"}}})
  assert edge_of(own_issue)[0]["dst"] == "bob"       # case-insensitive: the actor's own
  other_issue = _event("IssuesEvent", payload={"issue": {"user": {"login": "dave"}}})
  assert edge_of(other_issue)[0]["dst"] == "dave"
  own_pr = _event("PullRequestEvent", payload={"pull_request": {
      "user": {"login": "alice"}, "base": {"repo": {"owner": {"login": "erin"}}}}})
  assert edge_of(own_pr)[0]["dst"] == "erin"


def test_review_goes_to_pull_request_author():
  review = _event("PullRequestReviewEvent", payload={"pull_request": {
      "user": {"login": "Frank"}}})
  assert edge_of(review)[0]["dst"] == "frank"


def test_bots_dropped_by_default_and_kept_on_request():
  event = _event("IssueCommentEvent", actor="dependabot[bot]",
                 payload={"issue": {"user": {"login": "bob"}}})
  assert edge_of(event) == (None, BOT)
  assert edge_of(event, drop_bots=False)[0]["src"] == "dependabot[bot]"


def test_org_owners_kept_by_default_and_dropped_on_request():
  event = _event("PushEvent", repo="rust-lang/rust", org={"login": "rust-lang"})
  assert edge_of(event)[0]["dst"] == "rust-lang"
  assert edge_of(event, drop_org_owners=True) == (None, ORG_OWNER)


def test_empty_and_self_edges():
  assert edge_of(_event("WatchEvent", repo="/")) == (None, NO_PARTNER)
  assert edge_of(_event("MemberEvent", payload={})) == (None, NO_PARTNER)
  assert edge_of(_event("WatchEvent", actor="Bob")) == (None, SELF_EDGE)


def test_unreadable_payload_raises_bad_record():
  event = normalise({"type": "IssuesEvent", "id": "9", "created_at": "2012-01-01 00:00:00",
                     "actor": {"login": "a"}, "repo": {"name": "b/c"}, "payload": "{oops"})
  with pytest.raises(BadRecord, match="payload is not valid JSON"):
    edge_of(event)


def test_extract_edges_transform_sends_bad_payloads_to_dead_letter():
  events = [normalise(REAL["1519871561"]), normalise(REAL["2489582725"]),
            normalise({"type": "IssuesEvent", "id": "9", "created_at": "2012-01-01 00:00:00",
                       "actor": {"login": "a"}, "repo": {"name": "b/c"}, "payload": "[1"})]
  with batch_test_pipeline() as p:
    out = p | beam.Create(events) | ExtractEdges()
    assert_that(out.edges | beam.Map(lambda e: (e["src"], e["dst"])),
                equal_to([("greenlaw110", "tazmaniax")]))
    assert_that(out[DEAD] | beam.Map(lambda d: (d["stage"], d["reason"][:25])),
                equal_to([("edges", "payload is not valid JSON")]), label="dead")


def test_edges_are_stamped_at_their_created_at_in_the_global_window():
  events = [normalise(REAL["1519871561"]), normalise(REAL["2489582725"])]
  with batch_test_pipeline() as p:
    out = p | beam.Create(events) | ExtractEdges()
    assert_that(out.edges | beam.ParDo(_StampOf()),
                equal_to([(e["created_at"], "GlobalWindow") for e in events
                          if edge_of(e)[0]]))


class _StampOf(beam.DoFn):
  def process(self, edge, timestamp=beam.DoFn.TimestampParam,
              window=beam.DoFn.WindowParam):
    assert timestamp.micros == edge["created_at"] * 1000
    yield edge["created_at"], type(window).__name__


def test_extract_edges_refuses_windowed_events():
  with pytest.raises(ValueError, match="globally windowed"):
    with batch_test_pipeline() as p:
      (p | beam.Create([normalise(REAL["1519871561"])])
       | beam.WindowInto(beam.window.FixedWindows(60)) | ExtractEdges())
