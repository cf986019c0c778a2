// ListRuns and ListPullRequests through core::ListPage over their listing
// indexes (server/resourcing/list_index.h): newest first, filtered, a page
// read from the store per call (not every record), and page tokens that
// only their own RPC accepts, including those of the previous release.

#include <gtest/gtest.h>

#include <atomic>
#include <tuple>

#include "server/core/paging.h"
#include "server/resourcing/engine.h"
#include "server/resourcing/names.h"
#include "tests/resourcing/resourcing_test_support.h"

namespace switchboard {
namespace {

using testing::TempDir;

// A store that counts what is read from it.
class CountingStore final : public core::Store {
 public:
  explicit CountingStore(std::unique_ptr<core::Store> inner) : inner_(std::move(inner)) {}
  void CommitAsync(core::Mutation m, CommitCallback done) override { inner_->CommitAsync(std::move(m), std::move(done)); }
  absl::StatusOr<std::optional<std::string>> GetResource(absl::string_view kind, absl::string_view name) override {
    ++gets;
    return inner_->GetResource(kind, name);
  }
  absl::StatusOr<core::ResourcePage> ListResources(absl::string_view kind, absl::string_view after_name,
                                                   int limit) override {
    auto page = inner_->ListResources(kind, after_name, limit);
    ++lists;
    if (page.ok()) listed += static_cast<int>(page->items.size());
    return page;
  }
  absl::StatusOr<core::EventBatch> ReadEvents(int64_t after, int limit, absl::string_view service) override {
    return inner_->ReadEvents(after, limit, service);
  }
  int64_t HeadSequence() const override { return inner_->HeadSequence(); }
  Stats stats() const override { return inner_->stats(); }
  core::JobQueue& jobs() override { return inner_->jobs(); }
  void SetCommitListener(CommitListener listener) override { inner_->SetCommitListener(std::move(listener)); }
  void Close() override { inner_->Close(); }

  void Reset() { gets = lists = listed = 0; }
  std::atomic<int> gets{0}, lists{0}, listed{0};

 private:
  std::unique_ptr<core::Store> inner_;
};

// runs/1..12, ended, the odd ones of workspace AA and the even ones of BB;
// pull requests 3 (AA, merged), 4 (BB, active), 9 (AA, abandoned) and 10
// (BB, merged). Recorded the way the previous release did: no indexes.
void WriteRecords(core::Store& store) {
  core::Mutation m;
  for (int i = 0; i < 20; ++i) m.events.push_back({"resourcing", "run", "runs/0", "", ""});
  for (int i = 1; i <= 12; ++i) {
    v1::Run run;
    run.set_name(resourcing::RunName(i));
    run.set_workspace(i % 2 ? "workspaces/AA" : "workspaces/BB");
    run.set_state(v1::Run::SUCCEEDED);
    m.writes.push_back({resourcing::kRunKind, run.name(), run.SerializeAsString(), false});
  }
  for (auto [id, ws, state] : std::vector<std::tuple<int, const char*, v1::PullRequest::State>>{
           {3, "workspaces/AA", v1::PullRequest::MERGED},
           {4, "workspaces/BB", v1::PullRequest::ACTIVE},
           {9, "workspaces/AA", v1::PullRequest::ABANDONED},
           {10, "workspaces/BB", v1::PullRequest::MERGED}}) {
    v1::PullRequest pr;
    pr.set_id(id);
    pr.set_name(resourcing::PullRequestName(id));
    pr.set_workspace(ws);
    pr.set_state(state);
    m.writes.push_back({resourcing::kPullRequestKind, pr.name(), pr.SerializeAsString(), false});
  }
  ASSERT_TRUE(store.Commit(std::move(m)).ok());
}

class ResourcingList : public ::testing::Test {
 protected:
  void SetUp() override {
    auto inner = core::OpenSqliteStore({dir_.path() + "/db", 1024, 2});
    ASSERT_TRUE(inner.ok()) << inner.status();
    store_ = std::make_unique<CountingStore>(std::move(*inner));
    WriteRecords(*store_);
    executor_ = testing::DefaultExecutor();
    resourcing::ResourcingOptions o;
    o.work_dir = dir_.path() + "/resourcing";
    o.modules_seed_dir = SB_EXAMPLES_MODULES_DIR;
    auto e = resourcing::ResourcingEngine::Start(store_.get(), executor_.get(), o);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
  }
  void TearDown() override {
    if (engine_) engine_->Stop();
    engine_.reset();
    executor_.reset();
    if (store_) store_->Close();
  }

  // Names on one page of ListRuns, and its next token.
  std::pair<std::vector<std::string>, std::string> Runs(int page_size, const std::string& token,
                                                        const std::string& workspace = "") {
    v1::ListRunsRequest req;
    req.set_page_size(page_size);
    req.set_page_token(token);
    req.set_workspace(workspace);
    auto resp = engine_->ListRuns(req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    std::vector<std::string> names;
    if (!resp.ok()) return {names, ""};
    for (const auto& r : resp->runs()) names.push_back(r.name());
    return {names, resp->next_page_token()};
  }
  std::vector<std::string> PullRequests(v1::PullRequest::State state, const std::string& workspace) {
    v1::ListPullRequestsRequest req;
    req.set_state(state);
    req.set_workspace(workspace);
    auto resp = engine_->ListPullRequests(req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    std::vector<std::string> names;
    if (resp.ok()) {
      for (const auto& p : resp->pull_requests()) names.push_back(p.name());
    }
    return names;
  }

  TempDir dir_;
  std::unique_ptr<CountingStore> store_;
  std::unique_ptr<core::Executor> executor_;
  std::unique_ptr<resourcing::ResourcingEngine> engine_;
};

using Names = std::vector<std::string>;

TEST_F(ResourcingList, RunsAreListedNewestFirstAPageAtATime) {
  store_->Reset();
  auto [first, token] = Runs(5, "");
  EXPECT_EQ(first, (Names{"runs/12", "runs/11", "runs/10", "runs/9", "runs/8"}));
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(store_->lists.load(), 1) << "one page of the index";
  EXPECT_LE(store_->listed.load(), 5);
  EXPECT_EQ(store_->gets.load(), 5) << "and the five runs on it, not all twelve";
  auto [second, token2] = Runs(5, token);
  EXPECT_EQ(second, (Names{"runs/7", "runs/6", "runs/5", "runs/4", "runs/3"}));
  auto [last, token3] = Runs(5, token2);
  EXPECT_EQ(last, (Names{"runs/2", "runs/1"}));
  EXPECT_TRUE(token3.empty());

  auto [aa, aa_token] = Runs(4, "", "workspaces/AA");
  EXPECT_EQ(aa, (Names{"runs/11", "runs/9", "runs/7", "runs/5"}));
  EXPECT_EQ(Runs(4, aa_token, "workspaces/AA").first, (Names{"runs/3", "runs/1"}));
  EXPECT_EQ(Runs(0, "", "bb").first.size(), 6u) << "the acronym alone, in any case";
  EXPECT_TRUE(Runs(0, "", "workspaces/NONE").first.empty());
}

TEST_F(ResourcingList, PullRequestsAreListedNewestFirstByStateAndWorkspace) {
  EXPECT_EQ(PullRequests(v1::PullRequest::STATE_UNSPECIFIED, ""),
            (Names{"pullRequests/10", "pullRequests/9", "pullRequests/4", "pullRequests/3"}));
  EXPECT_EQ(PullRequests(v1::PullRequest::MERGED, ""), (Names{"pullRequests/10", "pullRequests/3"}));
  EXPECT_EQ(PullRequests(v1::PullRequest::STATE_UNSPECIFIED, "workspaces/AA"),
            (Names{"pullRequests/9", "pullRequests/3"}));
  EXPECT_EQ(PullRequests(v1::PullRequest::MERGED, "AA"), (Names{"pullRequests/3"}));
}

TEST_F(ResourcingList, APageTokenIsAcceptedOnlyByTheListThatIssuedIt) {
  const std::string runs_token = Runs(2, "").second;
  ASSERT_FALSE(runs_token.empty());
  v1::ListPullRequestsRequest prs;
  prs.set_page_token(runs_token);
  auto refused = engine_->ListPullRequests(prs);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("page_token was issued for a listing of runs"), std::string::npos)
      << refused.status();

  v1::ListPullRequestsRequest one;
  one.set_page_size(1);
  auto page = engine_->ListPullRequests(one);
  ASSERT_TRUE(page.ok() && !page->next_page_token().empty());
  v1::ListRunsRequest runs;
  runs.set_page_token(page->next_page_token());
  EXPECT_EQ(engine_->ListRuns(runs).status().code(), absl::StatusCode::kInvalidArgument);
  v1::ListWorkspacesRequest workspaces;
  workspaces.set_page_token(runs_token);
  EXPECT_EQ(engine_->ListWorkspaces(workspaces, false).status().code(), absl::StatusCode::kInvalidArgument);

  // A token as the previous release made it (the last run's name) still
  // goes on from there.
  EXPECT_EQ(Runs(0, core::EncodePageToken("runs", "runs/4")).first, (Names{"runs/3", "runs/2", "runs/1"}));
}

}  // namespace
}  // namespace switchboard
