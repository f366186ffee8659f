use super::*;

fn plan() -> DiskPlan {
    DiskPlan {
        name: Some("sda"),
        sectors: 1024,
        seed: 0x1234_5678,
    }
}

#[test]
fn the_pattern_is_fixed_by_seed_and_sector() {
    // Pinned: the kernel's copy of the function must agree with these.
    let mut sector = [0u8; SECTOR];
    fill_sector(0, 0, &mut sector);
    assert_eq!(
        u64::from_le_bytes(sector[..8].try_into().unwrap()),
        0xe220_a839_7b1d_cdaf
    );
    fill_sector(0x1234_5678, 7, &mut sector);
    let word1 = u64::from_le_bytes(sector[8..16].try_into().unwrap());
    assert_eq!(word1, splitmix64((0x1234_5678u64 << 40) ^ (7 << 6) ^ 1));
    let image = plan().image();
    assert_ne!(image[..SECTOR], image[SECTOR..2 * SECTOR]);
}

#[test]
fn kernel_args_name_the_disk_or_none() {
    assert_eq!(
        plan().kernel_args(),
        "block.disk=sda block.sectors=1024 block.seed=12345678"
    );
    let none = DiskPlan {
        name: None,
        ..plan()
    };
    assert!(none.kernel_args().starts_with("block.disk=none "));
}

#[test]
fn check_accepts_the_image_as_made_unless_durable_data_is_owed() {
    let plan = plan();
    let mut image = plan.image();
    assert_eq!(plan.check(&image, false), Ok(()));
    let owed = plan.check(&image, true).unwrap_err();
    assert!(owed.contains("sector 768 lacks"), "{owed}");
    let start = plan.durable().start as usize * SECTOR;
    image[start..].copy_from_slice(&plan.durable_bytes());
    assert_eq!(plan.check(&image, true), Ok(()));
    image[3 * SECTOR + 5] ^= 1;
    let stray = plan.check(&image, true).unwrap_err();
    assert!(stray.contains("sector 3 of the read-only half"), "{stray}");
    assert!(plan.check(&image[..SECTOR], false).is_err());
}

#[test]
fn sums_are_judged_like_the_bytes() {
    let plan = plan();
    let image = plan.image();
    let ro = sha256_hex(&image[..512 * SECTOR]);
    let durable_old = sha256_hex(&image[768 * SECTOR..]);
    let durable_new = sha256_hex(&plan.durable_bytes());
    assert_eq!(plan.check_sums(&ro, &durable_old, false), Ok(()));
    assert!(plan.check_sums(&ro, &durable_old, true).is_err());
    assert_eq!(plan.check_sums(&ro, &durable_new, true), Ok(()));
    assert!(plan.check_sums(&durable_new, &durable_new, false).is_err());
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn q35_gets_an_ahci_drive_and_pc_an_ide_one() {
    let args = qemu_drive_args("q35", Path::new("/tmp/d.img"));
    assert_eq!(
        args[1],
        "file=/tmp/d.img,format=raw,if=none,id=disk0,cache=writeback"
    );
    assert_eq!(native_name("q35"), Some("sda"));
    assert_eq!(native_name("pc"), None);
}
