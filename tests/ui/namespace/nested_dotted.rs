mesh::namespace! {
    pub SYSTEM = "system";
    pub PROVIDER = "provider.db" in SYSTEM;
}

fn main() {}
