// Reading a password: prompted on the terminal without echo, or one line of stdin when
// stdin is not a terminal (for scripts: `printf '%s\n' "$PW" | parley-cli login ann`).
#pragma once

#include <string>

namespace parley::cli {

// `confirm`: on a terminal, ask twice and require the same answer. Throws failure
// (usage) if nothing could be read.
std::string read_password(const std::string& prompt, bool confirm);

}  // namespace parley::cli
