# node-gyp build of the addon. scripts/install.js puts native/libhamqtt.so.0 (the real file under
# its SONAME: npm pack drops symlinks) and native/hamqtt.h in place first, and passes --nodedir so
# that nothing is downloaded.
{
  "targets": [
    {
      # The addon: linked with -l:libhamqtt.so.0 and RUNPATH $ORIGIN:$ORIGIN/../../native, so
      # build/Release/hamqtt.node finds native/libhamqtt.so.0 wherever the package is installed,
      # and the same file copied to prebuilds/<platform>-<arch>/ (scripts/pack.js) finds the
      # libhamqtt.so.0 beside it. NODELETE:
      # a worker thread that loaded it must not unload code that one of its threads still runs
      # (the library itself cannot be unloaded either).
      "target_name": "hamqtt",
      "sources": ["src/addon.c"],
      "include_dirs": ["native"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "libraries": ["-L<(module_root_dir)/native", "-l:libhamqtt.so.0", "-lpthread"],
      "ldflags": ["-Wl,-rpath,'$$ORIGIN:$$ORIGIN/../../native'", "-Wl,--enable-new-dtags", "-Wl,-z,nodelete"]
    },
    {
      # Blocks the asynchronous signals while lib/native.js loads the addon (and with it the Go
      # runtime, whose threads inherit that mask): see src/sigmask.c.
      "target_name": "hamqtt_sigmask",
      "sources": ["src/sigmask.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
