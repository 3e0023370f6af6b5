// write_pass: one handler writes every scheduled connection, runs the between_writes hook
// every few turns, and takes what is scheduled meanwhile into the same pass; the hub
// registers its drain as that hook.
#include "transport/write_pass.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/between_writes.hpp"
#include "server/context.hpp"
#include "server/frame_sink.hpp"
#include "server/hub.hpp"
#include "server/metrics.hpp"
#include "server/session.hpp"

namespace parley {
namespace {

namespace asio = boost::asio;

// A connection whose turn records its name and then runs `then` (once).
struct fake_conn {
  std::string name;
  std::vector<std::string>* log;
  std::function<void()> then;
  void write_turn() {
    log->push_back(name);
    if (auto f = std::exchange(then, nullptr)) f();
  }
};

std::shared_ptr<fake_conn> conn(std::string name, std::vector<std::string>& log) {
  return std::make_shared<fake_conn>(fake_conn{std::move(name), &log, nullptr});
}

TEST(WritePass, TurnsRunInScheduleOrderInOneHandler) {
  asio::io_context ioc;
  std::vector<std::string> log;
  write_pass<fake_conn> pass(ioc);
  pass.schedule(conn("a", log));
  pass.schedule(conn("b", log));
  asio::post(ioc, [&] { log.push_back("later handler"); });
  pass.schedule(conn("c", log));  // joins the pass already queued
  EXPECT_EQ(ioc.run(), 2u) << "one handler for the pass, one for the other post";
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b", "c", "later handler"}));
  EXPECT_EQ(pass.size(), 0u);
}

TEST(WritePass, AConnectionScheduledDuringThePassIsWrittenInTheSamePass) {
  asio::io_context ioc;
  std::vector<std::string> log;
  write_pass<fake_conn> pass(ioc);
  auto a = conn("a", log);
  a->then = [&] { pass.schedule(conn("scheduled by a", log)); };
  pass.schedule(a);
  asio::post(ioc, [&] { log.push_back("later handler"); });
  ioc.run();
  EXPECT_EQ(log, (std::vector<std::string>{"a", "scheduled by a", "later handler"}));
}

TEST(WritePass, TheHookRunsEveryFewTurnsAndWhatItSchedulesJoinsThePass) {
  asio::io_context ioc;
  std::vector<std::string> log;
  write_pass<fake_conn> pass(ioc, 4096, 2);
  int hook_runs = 0;
  asio::use_service<between_writes>(ioc).set([&] {
    ++hook_runs;
    log.push_back("hook");
    if (hook_runs == 2) pass.schedule(conn("from the hook", log));
  });
  for (auto n : {"1", "2", "3", "4"}) pass.schedule(conn(n, log));
  asio::post(ioc, [&] { log.push_back("later handler"); });
  ioc.run();
  EXPECT_EQ(log, (std::vector<std::string>{"hook", "1", "2", "hook", "3", "4", "hook",
                                           "from the hook", "later handler"}));
}

TEST(WritePass, ALongPassLetsQueuedHandlersRunBeforeItContinues) {
  asio::io_context ioc;
  std::vector<std::string> log;
  write_pass<fake_conn> pass(ioc, 3);
  for (auto n : {"1", "2", "3", "4", "5"}) pass.schedule(conn(n, log));
  asio::post(ioc, [&] { log.push_back("later handler"); });
  ioc.run();
  EXPECT_EQ(log, (std::vector<std::string>{"1", "2", "3", "later handler", "4", "5"}));
}

TEST(WritePass, ClearLetsGoOfTheWaitingConnections) {
  asio::io_context ioc;
  std::vector<std::string> log;
  write_pass<fake_conn> pass(ioc);
  auto a = conn("a", log);
  pass.schedule(a);
  EXPECT_EQ(a.use_count(), 2);
  pass.clear();
  EXPECT_EQ(a.use_count(), 1);
  ioc.run();
  EXPECT_TRUE(log.empty());
}

struct recording_sink : frame_sink {
  std::vector<std::string> frames;
  void send(std::shared_ptr<const std::string> f) override { frames.push_back(*f); }
  void when_drained(std::function<void()> f) override { f(); }
  void close(std::uint16_t, std::string) override {}
};

TEST(HubBetweenWrites, WhatWasQueuedForTheThreadIsHandledAtTheHookNotBehindTheHandler) {
  asio::io_context ioc;
  metrics m;
  hub h(m);
  h.attach({&ioc});
  server_context ctx;
  auto sink = std::make_shared<recording_sink>();
  auto s = std::make_shared<session>(ctx, ioc.get_executor(), sink);
  asio::post(ioc, [&] {
    h.add(s);
    h.notify_user(s->uid(), std::make_shared<const std::string>("notice"));
    EXPECT_TRUE(sink->frames.empty()) << "the hub's drain is queued behind this handler";
    asio::use_service<between_writes>(ioc).run();
    EXPECT_EQ(sink->frames, std::vector<std::string>{"notice"});
    asio::use_service<between_writes>(ioc).run();  // nothing waiting
    EXPECT_EQ(sink->frames.size(), 1u);
  });
  ioc.run();
  EXPECT_EQ(sink->frames.size(), 1u) << "the drain queued earlier found nothing left";
  h.remove(s.get());
}

TEST(HubBetweenWrites, TheHookOutlivingItsHubDoesNothing) {
  asio::io_context ioc;
  metrics m;
  {
    hub h(m);
    h.attach({&ioc});
    h.notify_user(1, std::make_shared<const std::string>("notice"));
  }
  asio::use_service<between_writes>(ioc).run();  // the shard is gone: a no-op
  SUCCEED();
}

}  // namespace
}  // namespace parley
