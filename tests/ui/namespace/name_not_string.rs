mesh::namespace!(pub SYSTEM = system);

fn main() {}
