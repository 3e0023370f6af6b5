#include "password.hpp"

#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <iostream>

#include "cli.hpp"

namespace parley::cli {

namespace {

// Restores the terminal if the user interrupts the prompt (echo would stay off).
int g_tty = -1;
termios g_saved{};

extern "C" void restore_and_die(int sig) {
  if (g_tty >= 0) tcsetattr(g_tty, TCSAFLUSH, &g_saved);
  signal(sig, SIG_DFL);
  raise(sig);
}

std::string prompt_tty(int tty, const std::string& prompt) {
  termios t{};
  if (tcgetattr(tty, &t) != 0) throw failure("invalid", "cannot read the terminal", exit_usage);
  g_saved = t;
  g_tty = tty;
  struct sigaction sa {
  }, old_int{}, old_term{};
  sa.sa_handler = restore_and_die;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  (void)!write(tty, prompt.data(), prompt.size());
  t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  t.c_lflag |= ICANON;
  tcsetattr(tty, TCSAFLUSH, &t);
  std::string line;
  char c;
  while (read(tty, &c, 1) == 1 && c != '\n') line += c;
  tcsetattr(tty, TCSAFLUSH, &g_saved);
  g_tty = -1;
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  (void)!write(tty, "\n", 1);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

std::string read_password(const std::string& prompt, bool confirm) {
  if (!isatty(STDIN_FILENO)) {
    std::string line;
    if (!std::getline(std::cin, line))
      throw failure("invalid", "no password: use --password, a terminal, or one line on stdin",
                    exit_usage);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (tty < 0) tty = STDIN_FILENO;
  auto pw = prompt_tty(tty, prompt);
  if (confirm && prompt_tty(tty, "Repeat the password: ") != pw) {
    if (tty != STDIN_FILENO) close(tty);
    throw failure("invalid", "the passwords differ", exit_usage);
  }
  if (tty != STDIN_FILENO) close(tty);
  return pw;
}

}  // namespace parley::cli
