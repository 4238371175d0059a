// Key files for the CURVE transport: generation, the text format round trip, file modes, and
// the errors a user sees for missing, garbled or exposed keys.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "net/keys.h"
#include "test_paths.h"

namespace lingua {
namespace {
namespace fs = std::filesystem;

class KeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / (std::string("lingua-keys-test-") + std::to_string(rd()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static unsigned mode_of(const fs::path& p) {
    struct stat st{};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 0777;
  }
  static void write(const fs::path& p, const std::string& text, unsigned mode = 0600) {
    std::ofstream(p) << text;
    fs::permissions(p, static_cast<fs::perms>(mode), fs::perm_options::replace);
  }
  fs::path dir_;
};

TEST_F(KeysTest, GeneratedKeysAreValidZ85) {
  auto a = generate_keypair();
  auto b = generate_keypair();
  ASSERT_TRUE(a) << a.error();
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(a->public_key.size(), 40u);
  EXPECT_EQ(a->secret_key.size(), 40u);
  EXPECT_TRUE(is_z85_key(a->public_key));
  EXPECT_TRUE(is_z85_key(a->secret_key));
  EXPECT_NE(a->public_key, b->public_key);
  EXPECT_FALSE(is_z85_key(a->public_key.substr(1)));
  EXPECT_FALSE(is_z85_key(std::string(40, '"')));  // '"' is not in the Z85 alphabet
}

TEST_F(KeysTest, WriteAndLoadRoundTripWithModes) {
  auto keys = generate_keypair();
  ASSERT_TRUE(keys);
  const fs::path dir = dir_ / "keys";
  ASSERT_TRUE(write_keypair(dir, "head", *keys, false).is_ok());
  EXPECT_EQ(mode_of(dir), 0700u);
  EXPECT_EQ(mode_of(dir / "head.key"), 0600u);
  EXPECT_EQ(mode_of(dir / "head.pub"), 0644u);
  EXPECT_EQ(secret_key_path(dir, "head"), dir / "head.key");
  EXPECT_EQ(public_key_path(dir, "head"), dir / "head.pub");

  auto loaded = load_keypair(dir / "head.key");
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(loaded->public_key, keys->public_key);
  EXPECT_EQ(loaded->secret_key, keys->secret_key);
  auto pub = load_public_key(dir / "head.pub");
  ASSERT_TRUE(pub) << pub.error();
  EXPECT_EQ(*pub, keys->public_key);

  std::ifstream in(dir / "head.pub");
  const std::string pub_text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(pub_text.find(keys->secret_key), std::string::npos) << "the .pub file must not hold the secret";
  EXPECT_NE(pub_text.find(std::string("public-key = ") + keys->public_key), std::string::npos);
  EXPECT_EQ(pub_text[0], '#');
}

TEST_F(KeysTest, RefusesToOverwriteUnlessForced) {
  auto a = generate_keypair();
  auto b = generate_keypair();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(write_keypair(dir_, "lingua", *a, false).is_ok());
  Status again = write_keypair(dir_, "lingua", *b, false);
  ASSERT_FALSE(again.is_ok());
  EXPECT_NE(again.message().find("already exists"), std::string::npos) << again.message();
  EXPECT_NE(again.message().find("--force"), std::string::npos) << again.message();
  EXPECT_EQ(load_keypair(dir_ / "lingua.key")->public_key, a->public_key);  // untouched

  fs::permissions(dir_ / "lingua.key", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read,
                  fs::perm_options::replace);
  ASSERT_TRUE(write_keypair(dir_, "lingua", *b, true).is_ok());
  EXPECT_EQ(mode_of(dir_ / "lingua.key"), 0600u) << "--force must also restore the secret file's mode";
  EXPECT_EQ(load_keypair(dir_ / "lingua.key")->public_key, b->public_key);
  EXPECT_EQ(*load_public_key(dir_ / "lingua.pub"), b->public_key);
}

TEST_F(KeysTest, RejectsNamesThatAreNotPlainFileNames) {
  auto k = generate_keypair();
  ASSERT_TRUE(k);
  for (const char* bad : {"", "../x", "a/b", ".hidden"}) {
    Status st = write_keypair(dir_, bad, *k, false);
    EXPECT_FALSE(st.is_ok()) << bad;
  }
}

TEST_F(KeysTest, MissingFilesNameThePath) {
  auto a = load_keypair(dir_ / "nope.key");
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().find("nope.key"), std::string::npos) << a.error();
  EXPECT_NE(a.error().find("does not exist"), std::string::npos) << a.error();
  auto b = load_public_key(dir_ / "nope.pub");
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().find("nope.pub"), std::string::npos) << b.error();
}

TEST_F(KeysTest, GarbledFilesGiveLineAndReason) {
  auto k = generate_keypair();
  ASSERT_TRUE(k);
  fs::create_directories(dir_);
  struct Case {
    std::string text, expect;
  } cases[] = {
      {"public-key = short\n", "40 Z85 characters"},
      {std::string("public-key = ") + std::string(40, '"') + "\n", "do not decode"},
      {"# header\n\nthis is not a key file\n", "line 3"},
      {std::string("private = ") + k->public_key + "\n", "unknown entry 'private'"},
      {std::string("public-key = ") + k->public_key + std::string("\npublic-key = ") + k->public_key + "\n", "given twice"},
      {"# only a comment\n", "no public-key line"},
      {std::string("\x01\x02\xff garbage\n"), "line 1"},
  };
  for (const auto& c : cases) {
    write(dir_ / "x.pub", c.text);
    auto r = load_public_key(dir_ / "x.pub");
    ASSERT_FALSE(r) << c.text;
    EXPECT_NE(r.error().find("x.pub"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find(c.expect), std::string::npos) << "got: " << r.error() << "\nwanted: " << c.expect;
  }
  // A .key file needs both keys, and they must belong together.
  write(dir_ / "a.key", std::string("public-key = ") + k->public_key + "\n");
  auto no_secret = load_keypair(dir_ / "a.key");
  ASSERT_FALSE(no_secret);
  EXPECT_NE(no_secret.error().find("no secret-key"), std::string::npos) << no_secret.error();
  auto other = generate_keypair();
  write(dir_ / "b.key", std::string("public-key = ") + other->public_key + std::string("\nsecret-key = ") + k->secret_key + "\n");
  auto mismatch = load_keypair(dir_ / "b.key");
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().find("does not belong"), std::string::npos) << mismatch.error();
  write(dir_ / "c.key", std::string("secret-key = ") + k->secret_key + std::string("\r\npublic-key=") + k->public_key + "  \r\n");
  auto crlf = load_keypair(dir_ / "c.key");
  ASSERT_TRUE(crlf) << crlf.error();
  EXPECT_EQ(crlf->public_key, k->public_key);
}

TEST_F(KeysTest, SecretKeyReadableByOthersIsRefused) {
  auto k = generate_keypair();
  ASSERT_TRUE(k);
  ASSERT_TRUE(write_keypair(dir_, "w", *k, false).is_ok());
  for (unsigned mode : {0644u, 0640u, 0604u, 0660u}) {
    fs::permissions(dir_ / "w.key", static_cast<fs::perms>(mode), fs::perm_options::replace);
    auto r = load_keypair(dir_ / "w.key");
    ASSERT_FALSE(r) << std::oct << mode;
    EXPECT_NE(r.error().find("chmod 600"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("w.key"), std::string::npos) << r.error();
  }
  fs::permissions(dir_ / "w.key", static_cast<fs::perms>(0400), fs::perm_options::replace);
  EXPECT_TRUE(load_keypair(dir_ / "w.key"));
}

TEST_F(KeysTest, AuthorizedKeysDirectory) {
  const fs::path dir = dir_ / "authorized";
  auto missing = load_authorized_keys(dir);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("does not exist"), std::string::npos) << missing.error();

  fs::create_directories(dir);
  auto empty = load_authorized_keys(dir);
  ASSERT_TRUE(empty) << empty.error();
  EXPECT_TRUE(empty->keys.empty());

  auto h1 = generate_keypair(), h2 = generate_keypair(), own = generate_keypair();
  ASSERT_TRUE(h1 && h2 && own);
  ASSERT_TRUE(write_keypair(dir, "head-b", *h2, false).is_ok());
  ASSERT_TRUE(write_keypair(dir, "head-a", *h1, false).is_ok());
  fs::remove(dir / "head-a.key");
  fs::remove(dir / "head-b.key");
  write(dir / "copy-of-a.pub", std::string("public-key = ") + h1->public_key + "\n", 0644);  // duplicate
  write(dir / "README", "not a key\n", 0644);
  write(dir / "own.key", std::string("secret-key = ") + own->secret_key + std::string("\npublic-key = ") + own->public_key + "\n");
  auto keys = load_authorized_keys(dir);
  ASSERT_TRUE(keys) << keys.error();
  ASSERT_EQ(keys->keys.size(), 2u);
  EXPECT_EQ(keys->keys[0], h1->public_key);  // copy-of-a.pub sorts first
  EXPECT_EQ(keys->keys[1], h2->public_key);
  EXPECT_TRUE(keys->skipped.empty());

  // A garbled file is skipped and named; the good keys still count.
  write(dir / "zz-broken.pub", "public-key = nope\n", 0644);
  auto broken = load_authorized_keys(dir);
  ASSERT_TRUE(broken) << broken.error();
  EXPECT_EQ(broken->keys.size(), 2u);
  ASSERT_EQ(broken->skipped.size(), 1u);
  EXPECT_NE(broken->skipped[0].find("zz-broken.pub"), std::string::npos) << broken->skipped[0];
}

// `lingua keygen` itself, when the command has been built (the net tests do not build it).
TEST_F(KeysTest, KeygenCommand) {
  const std::string bin = lingua::testing::lingua_binary();
  if (!fs::exists(bin)) GTEST_SKIP() << "no lingua binary at " << bin;
  fs::create_directories(dir_);
  const fs::path out = dir_ / "k";
  const std::string q = std::string("'") + out.string() + "'";
  std::string cmd = bin;
  cmd += " keygen -o ";
  cmd += q;
  cmd += " --name node > ";
  cmd += q;
  cmd += ".out 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto kp = load_keypair(out / "node.key");
  ASSERT_TRUE(kp) << kp.error();
  std::ifstream printed(out.string() + ".out");
  std::string line;
  std::getline(printed, line);
  EXPECT_EQ(line, kp->public_key);
  EXPECT_NE(std::system(cmd.c_str()), 0) << "a second keygen must refuse to overwrite";
  std::string force = bin;
  force += " keygen --force --name node -o ";
  force += q;
  force += " >/dev/null 2>&1";
  EXPECT_EQ(std::system(force.c_str()), 0);
  EXPECT_NE(load_keypair(out / "node.key")->public_key, kp->public_key);
  std::string help = bin;
  help += " keygen --help >/dev/null 2>&1";
  EXPECT_EQ(std::system(help.c_str()), 0);
}

}  // namespace
}  // namespace lingua
