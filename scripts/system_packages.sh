#!/usr/bin/env bash
# The system packages the toolchain and its tests need, brought by `make install` on Debian/Ubuntu:
#   python3 + python3-venv (the .venv), gcc (host builds of the generated C), clang (its -Werror
#   check), valgrind (memory checks of the C), gcc-arm-none-eabi + libnewlib-arm-none-eabi (Cortex-M
#   builds: code size, RAM), clang's sanitizer runtime (undefined-behaviour checks of the C),
#   espeak-ng (spoken keywords of the generated audio dataset). Missing ones are installed with
#   apt-get when this runs as root or with password-less sudo; otherwise it says what to install.
# Usage: scripts/system_packages.sh [PYTHON]     SYSTEM_PACKAGES=skip: check nothing
set -euo pipefail
PYTHON=${1:-python3}
if [ "${SYSTEM_PACKAGES:-}" = "skip" ]; then
    exit 0
fi

missing=()
need() {  # need "PACKAGES" TEST...: the PACKAGES are missing when the test command fails
    local packages=$1
    shift
    if ! "$@" >/dev/null 2>&1; then
        read -r -a more <<<"$packages"
        missing+=("${more[@]}")
    fi
}
builds_c() {  # a C compiler that finds the C library's headers
    printf '#include <stdio.h>\nint main(void) { return 0; }\n' | "$1" -x c - -o /dev/null
}
newlib_present() {  # the Cortex-M C library: without it arm-none-eabi-gcc cannot link a program
    local libc
    libc=$(arm-none-eabi-gcc -print-file-name=libc.a 2>/dev/null) && [ -f "$libc" ]
}
ubsan_links() {  # clang links a program built with -fsanitize=undefined
    printf 'int main(void) { return 0; }\n' | clang -fsanitize=undefined -x c - -o /dev/null
}
install_missing() {  # apt-get install what "need" found missing (root or password-less sudo)
    [ ${#missing[@]} -eq 0 ] && return 0
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            sudo=(none)
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1 || [ "${sudo[0]:-}" = none ]; then
        {
            echo "make install: these system packages are missing: ${missing[*]}"
            if command -v apt-get >/dev/null 2>&1; then
                echo "  install them (this needs root) and run make again:"
                echo "    sudo apt-get install -y ${missing[*]}"
            else
                echo "  this is not a Debian/Ubuntu system: install the equivalent packages of your system"
                echo "  (a C compiler, clang with its sanitizer runtime, valgrind, the Arm GNU toolchain arm-none-eabi with newlib,"
                echo "  espeak-ng) and run make again"
            fi
            echo "  (SYSTEM_PACKAGES=skip make ... goes on without them: the compiler checks that need them then fail)"
        } >&2
        exit 1
    fi
    echo "make install: installing the system packages ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
need python3 command -v "$PYTHON"
need python3-venv "$PYTHON" -c "import ensurepip, venv"
need "gcc libc6-dev" builds_c gcc
need clang builds_c clang
need valgrind command -v valgrind
need gcc-arm-none-eabi command -v arm-none-eabi-gcc
need libnewlib-arm-none-eabi newlib_present
need espeak-ng command -v espeak-ng
install_missing
# clang's sanitizer runtime (Debian ships it apart from clang, named by clang's major version): the
# undefined-behaviour checks of the generated C link against it
missing=()
clang_major=$(clang -dumpversion 2>/dev/null | cut -d. -f1)
[ -n "$clang_major" ] && need "libclang-rt-${clang_major}-dev" ubsan_links
install_missing
