// hub: live fan-out of committed events to the sessions of their recipients. Real
// sessions (synced through the service over a SQLite store) with a sink that records what
// they are sent; several batches are queued before the I/O thread runs, so one drain
// delivers them all, the case where the hub reuses a conversation's lookup of sessions.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "server/hub.hpp"
#include "server/session.hpp"
#include "service_fixture.hpp"

namespace parley {
namespace {

using svc_test::account;

struct recording_sink : frame_sink {
  std::vector<std::string> frames;
  void send(std::shared_ptr<const std::string> f) override { frames.push_back(*f); }
  void when_drained(std::function<void()> f) override { f(); }
  void close(std::uint16_t, std::string) override {}
  // The seqs of the pushed events of conversation c, in the order sent.
  std::vector<std::int64_t> seqs(conv_id c) const {
    std::vector<std::int64_t> out;
    for (const auto& f : frames) {
      auto v = boost::json::parse(f).as_object();
      if (!v.contains("ev")) continue;
      const auto& ev = v.at("ev").as_object();
      if (ev.at("conv").as_int64() == c) out.push_back(ev.at("seq").as_int64());
    }
    return out;
  }
};

class HubTest : public svc_test::ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    ctx_.st = st_.get();
    ctx_.svc = svc_.get();
    ctx_.h = &hub_;
    ctx_.m = &metrics_;
    hub_.attach({&io_});
  }
  void TearDown() override {
    for (auto& s : sessions_) s->on_closed();
    sessions_.clear();
    io_.restart();
    io_.poll();
    ServiceTest::TearDown();
  }

  // Runs the I/O thread's handlers (store replies arrive from other threads) until `done`.
  void run_until(const std::function<bool()>& done) {
    for (int i = 0; i < 2000 && !done(); ++i) {
      io_.restart();
      if (io_.poll() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(done());
  }

  // A session of `a`, authenticated and synced (live from the current positions on).
  std::shared_ptr<recording_sink> live(const account& a) {
    auto sink = std::make_shared<recording_sink>();
    auto s = std::make_shared<session>(ctx_, io_.get_executor(), sink);
    s->set_auth(*a.who.auth);
    s->on_frame(R"({"id":"s","op":"sync"})");
    run_until([&] {
      for (const auto& f : sink->frames)
        if (f.find(R"("id":"s")") != std::string::npos) return true;
      return false;
    });
    sessions_.push_back(s);
    return sink;
  }

  // Sends `n` messages from `a` in conversation c and returns their committed events.
  std::vector<committed_event_ptr> sent(const account& a, conv_id c, int n) {
    take_published();
    for (int i = 0; i < n; ++i) send(a, c, "k" + std::to_string(c) + "-" + std::to_string(next_++));
    auto evs = take_published();
    EXPECT_EQ(evs.size(), static_cast<std::size_t>(n));
    return evs;
  }

  boost::asio::io_context io_;
  metrics metrics_;
  hub hub_{metrics_};
  server_context ctx_;
  std::vector<std::shared_ptr<session>> sessions_;
  int next_ = 0;
};

TEST_F(HubTest, OneDrainDeliversEveryBatchToEverySessionOfEachRecipientInOrder) {
  auto ann = signup("ann");
  auto bob = signup("bob");
  auto cid = signup("cid");
  auto c1 = group(ann, {"bob", "cid"}, "one");
  auto c2 = group(ann, {"bob"}, "two");
  auto ann_sink = live(ann);
  auto bob_phone = live(bob);
  auto bob_laptop = live(bob);
  auto cid_sink = live(cid);
  // Batches of both conversations interleaved, all queued before the drain runs.
  auto a = sent(ann, c1, 3);
  auto b = sent(bob, c2, 2);
  auto c = sent(cid, c1, 2);
  hub_.dispatch(a);
  hub_.dispatch(b);
  hub_.dispatch(c);
  run_until([&] { return cid_sink->seqs(c1).size() == 5 && bob_laptop->seqs(c2).size() == 2; });
  io_.restart();
  io_.poll();
  std::vector<std::int64_t> want1, want2;
  for (const auto& e : a) want1.push_back(e->ev.seq);
  for (const auto& e : c) want1.push_back(e->ev.seq);
  for (const auto& e : b) want2.push_back(e->ev.seq);
  for (auto* s : {ann_sink.get(), bob_phone.get(), bob_laptop.get(), cid_sink.get()})
    EXPECT_EQ(s->seqs(c1), want1);
  for (auto* s : {ann_sink.get(), bob_phone.get(), bob_laptop.get()}) EXPECT_EQ(s->seqs(c2), want2);
  EXPECT_TRUE(cid_sink->seqs(c2).empty());
}

TEST_F(HubTest, AnEventGoesToItsOwnRecipientsWhenTheConversationsLastEventHadOthers) {
  auto ann = signup("ann");
  auto bob = signup("bob");
  auto c1 = group(ann, {"bob"}, "one");
  auto ann_sink = live(ann);
  auto bob_sink = live(bob);
  auto evs = sent(ann, c1, 3);
  // The second event is for ann alone (as for an event only some members receive); the
  // third is for both again. All three go out in one drain.
  auto only_ann = std::make_shared<committed_event>(*evs[1]);
  only_ann->recipients = {ann.u.id};

  hub_.dispatch({evs[0]});
  hub_.dispatch({only_ann});
  hub_.dispatch({evs[2]});
  run_until([&] { return ann_sink->seqs(c1).size() == 3; });
  io_.restart();
  io_.poll();
  // Live: ann's three and bob's first.
  EXPECT_EQ(metrics_.deliveries_total.load(), 4u);
  const auto s0 = evs[0]->ev.seq;
  EXPECT_EQ(ann_sink->seqs(c1), (std::vector<std::int64_t>{s0, s0 + 1, s0 + 2}));
  // bob never got the second, so the third is a gap for him: he catches up from the store,
  // where both are, instead of receiving the third live.
  run_until([&] { return bob_sink->seqs(c1).size() == 3; });
  EXPECT_EQ(bob_sink->seqs(c1), (std::vector<std::int64_t>{s0, s0 + 1, s0 + 2}));
}

}  // namespace
}  // namespace parley
